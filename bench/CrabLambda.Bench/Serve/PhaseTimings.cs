using System.Diagnostics;
using System.Text.Json.Serialization;
using HdrHistogram;

namespace CrabLambda.Bench.Serve;

/// <summary>
/// Stopwatch timings of the phases of the invoke path inside the benchmark's server, so that a missed target can be
/// traced to the phase that costs the time.
/// </summary>
internal sealed class PhaseTimings
{
    /// <summary>The whole request inside the server, from the first middleware to the end of the response.</summary>
    public const string Request = "request";

    /// <summary>IFunctionClient.InvokeAsync: lookup, execution and the wait for the commit.</summary>
    public const string Invoke = "invoke";

    /// <summary>IFunctionStore.GetFunctionAsync: the function lookup by name.</summary>
    public const string Lookup = "store.get_function";

    /// <summary>IFunctionStore.GetVersionAsync: the version read, when the client's cache misses.</summary>
    public const string VersionRead = "store.get_version";

    /// <summary>IExecutor.ExecuteAsync: the worker round trip with its bookkeeping.</summary>
    public const string Execute = "executor";

    /// <summary>IFunctionStore.AddExecutionsAsync: one group-commit transaction.</summary>
    public const string Commit = "store.add_executions";

    /// <summary>How many records one group-commit transaction held.</summary>
    public const string CommitBatch = "store.add_executions.batch";

    private const long Highest = 600_000_000;

    private readonly Dictionary<string, LongConcurrentHistogram> _histograms = new(StringComparer.Ordinal);

    public PhaseTimings()
    {
        foreach (var phase in new[] { Request, Invoke, Lookup, VersionRead, Execute, Commit, CommitBatch })
        {
            _histograms[phase] = new LongConcurrentHistogram(1, Highest, 3);
        }
    }

    public void RecordSince(string phase, long startTimestamp) =>
        Record(phase, (long)Stopwatch.GetElapsedTime(startTimestamp).TotalMicroseconds);

    public void Record(string phase, long value) =>
        _histograms[phase].RecordValue(Math.Clamp(value, 0, Highest));

    public void Reset()
    {
        foreach (var histogram in _histograms.Values)
        {
            histogram.Reset();
        }
    }

    public Dictionary<string, PhaseSummary> Summarize() =>
        _histograms.ToDictionary(
            pair => pair.Key,
            pair => new PhaseSummary(
                pair.Value.TotalCount,
                pair.Value.TotalCount == 0 ? 0 : pair.Value.GetValueAtPercentile(50),
                pair.Value.TotalCount == 0 ? 0 : pair.Value.GetValueAtPercentile(99),
                pair.Value.TotalCount == 0 ? 0 : pair.Value.GetMean()),
            StringComparer.Ordinal);
}

/// <summary>One phase's timings: microseconds, except for the batch size, which is a count.</summary>
internal sealed record PhaseSummary(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("p50")] long P50,
    [property: JsonPropertyName("p99")] long P99,
    [property: JsonPropertyName("mean")] double Mean);
