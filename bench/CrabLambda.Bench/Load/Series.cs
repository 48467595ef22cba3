namespace CrabLambda.Bench.Load;

/// <summary>
/// The rounds of one figure, added up: every latency, every request, the wall-clock time and the server CPU time
/// that the rounds took.
/// </summary>
internal sealed class Series
{
    public Latencies Latencies { get; } = new();

    public long Completed { get; private set; }

    public long Failed { get; private set; }

    public TimeSpan Elapsed { get; private set; }

    public TimeSpan ServerCpu { get; private set; }

    public double PerSecond => Completed / Elapsed.TotalSeconds;

    /// <summary>Server CPU milliseconds per 1,000 requests.</summary>
    public double CpuMsPerThousand => ServerCpu.TotalMilliseconds / Completed * 1000;

    public void Add(RoundResult round)
    {
        Latencies.Add(round.Latencies);
        Completed += round.Completed;
        Failed += round.Failed;
        Elapsed += round.Elapsed;
        ServerCpu += round.ServerCpu;
    }

    public void AddFailure() => Failed++;

    public void AddSample(TimeSpan latency)
    {
        Latencies.Record(latency);
        Completed++;
        Elapsed += latency;
    }
}
