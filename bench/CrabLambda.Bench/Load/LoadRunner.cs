using System.Diagnostics;

namespace CrabLambda.Bench.Load;

/// <summary>
/// A closed-loop load: a number of lanes, each sending its next request as soon as the previous one answered, for a
/// fixed time or a fixed count. Concurrency is the number of lanes.
/// </summary>
internal static class LoadRunner
{
    /// <summary>
    /// Runs <paramref name="operation"/> in <paramref name="concurrency"/> lanes until the time is up.
    /// </summary>
    public static Task<RoundResult> RunForAsync(int concurrency, TimeSpan duration, Func<Task<bool>> operation) =>
        RunAsync(concurrency, operation, Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency),
            count: long.MaxValue);

    /// <summary>Runs <paramref name="operation"/> <paramref name="count"/> times in total over the lanes.</summary>
    public static Task<RoundResult> RunCountAsync(int concurrency, long count, Func<Task<bool>> operation) =>
        RunAsync(concurrency, operation, long.MaxValue, count);

    /// <summary>
    /// Load that is not measured: it lets a new server's JIT reach its optimised code (tiering and profile-guided
    /// recompilation happen in the background during the first thousands of requests) and starts the workers.
    /// Runs every operation in turn at concurrency 4, then at 1.
    /// </summary>
    public static async Task WarmUpAsync(TimeSpan duration, params Func<Task<bool>>[] operations)
    {
        var next = 0;
        Task<bool> Any() => operations[(int)((uint)Interlocked.Increment(ref next) % operations.Length)]();
        await RunForAsync(4, duration * 0.7, Any);
        await RunForAsync(1, duration * 0.3, Any);
    }

    private static async Task<RoundResult> RunAsync(
        int concurrency,
        Func<Task<bool>> operation,
        long stopAt,
        long count)
    {
        var remaining = count;
        var lanes = new Latencies[concurrency];
        var failures = new long[concurrency];
        var started = Stopwatch.GetTimestamp();

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(lane => Task.Run(async () =>
        {
            var latencies = new Latencies();
            lanes[lane] = latencies;
            while (Stopwatch.GetTimestamp() < stopAt && Interlocked.Decrement(ref remaining) >= 0)
            {
                var sent = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    ok = await operation();
                }
                catch (Exception exception) when (exception is HttpRequestException or IOException
                    or TaskCanceledException)
                {
                    ok = false;
                }

                latencies.RecordSince(sent);
                if (!ok)
                {
                    failures[lane]++;
                }
            }
        })));

        var elapsed = Stopwatch.GetElapsedTime(started);
        var all = new Latencies();
        foreach (var lane in lanes)
        {
            all.Add(lane);
        }

        return new RoundResult(all, failures.Sum(), elapsed);
    }
}

/// <summary>What one round of load did.</summary>
/// <param name="Latencies">The latency of every request.</param>
/// <param name="Failed">How many requests failed (an HTTP error, or an invocation that did not succeed).</param>
/// <param name="Elapsed">The round's wall-clock time.</param>
internal sealed record RoundResult(Latencies Latencies, long Failed, TimeSpan Elapsed)
{
    /// <summary>The server's CPU time during the round, when it was read.</summary>
    public TimeSpan ServerCpu { get; init; }

    public long Completed => Latencies.Count;

    public double PerSecond => Completed / Elapsed.TotalSeconds;
}
