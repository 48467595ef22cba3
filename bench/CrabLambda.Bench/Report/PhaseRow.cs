using System.Globalization;
using System.Text;
using CrabLambda.Bench.Serve;

namespace CrabLambda.Bench.Report;

/// <summary>
/// Where the time of one invoke figure goes, from the Stopwatch timings inside the server: p50s in milliseconds of
/// the request, the client's invoke, the lookup, the executor and the commit, beside the client's own view.
/// </summary>
internal sealed record PhaseRow(
    string Runtime,
    string Store,
    int Concurrency,
    double ClientP50Ms,
    double NoopP50Ms,
    double WorkerFloorP50Ms,
    IReadOnlyDictionary<string, PhaseSummary> Phases)
{
    public static string ToMarkdown(IEnumerable<PhaseRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| runtime | store | c | client | server request | invoke | lookup | executor | commit "
            + "| records per commit | no-op (client) | worker round trip (no HTTP, no DB) |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var row in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {row.Runtime} | {row.Store} | {row.Concurrency} | ")
                .Append(CultureInfo.InvariantCulture, $"{Units.Ms(row.ClientP50Ms)} | ")
                .Append(CultureInfo.InvariantCulture, $"{Phase(row, PhaseTimings.Request)} | ")
                .Append(CultureInfo.InvariantCulture, $"{Phase(row, PhaseTimings.Invoke)} | ")
                .Append(CultureInfo.InvariantCulture, $"{Phase(row, PhaseTimings.Lookup)} | ")
                .Append(CultureInfo.InvariantCulture, $"{Phase(row, PhaseTimings.Execute)} | ")
                .Append(CultureInfo.InvariantCulture, $"{Phase(row, PhaseTimings.Commit)} | ")
                .Append(CultureInfo.InvariantCulture, $"{BatchMean(row):0.0} | ")
                .Append(CultureInfo.InvariantCulture, $"{Units.Ms(row.NoopP50Ms)} | ")
                .Append(CultureInfo.InvariantCulture, $"{Units.Ms(row.WorkerFloorP50Ms)} |")
                .AppendLine();
        }

        return text.ToString();
    }

    private static string Phase(PhaseRow row, string phase) =>
        row.Phases.TryGetValue(phase, out var summary) && summary.Count > 0 ? Units.Ms(summary.P50 / 1000.0) : "–";

    private static double BatchMean(PhaseRow row) =>
        row.Phases.TryGetValue(PhaseTimings.CommitBatch, out var summary) ? summary.Mean : double.NaN;
}
