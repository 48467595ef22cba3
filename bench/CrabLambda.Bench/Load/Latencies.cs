using System.Diagnostics;
using HdrHistogram;

namespace CrabLambda.Bench.Load;

/// <summary>
/// A latency histogram in microseconds, from one microsecond to ten minutes with three significant digits.
/// Not safe for concurrent writers: each load lane records into its own and they are merged after the round.
/// </summary>
internal sealed class Latencies
{
    private const long HighestMicroseconds = 600_000_000;

    private readonly LongHistogram _histogram = new(HighestMicroseconds, 3);

    public long Count => _histogram.TotalCount;

    public void RecordSince(long startTimestamp) => Record(Stopwatch.GetElapsedTime(startTimestamp));

    public void Record(TimeSpan elapsed) =>
        _histogram.RecordValue(Math.Clamp((long)elapsed.TotalMicroseconds, 0, HighestMicroseconds));

    public void RecordMicroseconds(double microseconds) =>
        _histogram.RecordValue(Math.Clamp((long)microseconds, 0, HighestMicroseconds));

    public void Add(Latencies other) => _histogram.Add(other._histogram);

    /// <summary>The value at a percentile (0–100), in milliseconds.</summary>
    public double PercentileMs(double percentile) =>
        Count == 0 ? double.NaN : _histogram.GetValueAtPercentile(percentile) / 1000.0;

    public double MeanMs => Count == 0 ? double.NaN : _histogram.GetMean() / 1000.0;
}
