namespace CrabLambda.Bench;

/// <summary>How much of everything a run measures: the full run (about ten minutes) or the quick one.</summary>
internal sealed record BenchSettings
{
    /// <summary>The isolation of the servers (<c>ISOLATION</c>): auto, none or sandbox.</summary>
    public required string Isolation { get; init; }

    /// <summary>An existing PostgreSQL server to use instead of a private one, or null.</summary>
    public string? Postgres { get; init; }

    /// <summary>Whether to measure on PostgreSQL at all.</summary>
    public bool WithPostgres { get; init; } = true;

    public bool Quick { get; init; }

    /// <summary>The groups of figures to measure (<see cref="Groups"/>); empty for all of them.</summary>
    public IReadOnlySet<string> Only { get; init; } = new HashSet<string>();

    /// <summary>The groups of figures a run can be limited to with <c>--only</c>.</summary>
    public static IReadOnlyList<string> Groups { get; } = ["latency", "throughput", "memory", "cold-start", "scale"];

    /// <summary>Whether this run measures a group of figures.</summary>
    public bool Measures(string group) => Only.Count == 0 || Only.Contains(group);

    /// <summary>Rounds of the latency figures at concurrency 1.</summary>
    public int LatencyRounds => Quick ? 3 : 6;

    /// <summary>Requests per latency round, for each of the figure and its floors.</summary>
    public int LatencyRequests => Quick ? 100 : 150;

    /// <summary>Rounds of each throughput figure.</summary>
    public int ThroughputRounds => Quick ? 2 : 3;

    /// <summary>How long each throughput round lasts.</summary>
    public TimeSpan ThroughputRound => Quick ? TimeSpan.FromSeconds(0.6) : TimeSpan.FromSeconds(1.0);

    /// <summary>How long load runs before a throughput figure is measured, to start and warm its workers.</summary>
    public TimeSpan WarmUp => Quick ? TimeSpan.FromSeconds(0.5) : TimeSpan.FromSeconds(1.0);

    /// <summary>How long a new server is warmed up before anything on it is measured.</summary>
    public TimeSpan ServerWarmUp => Quick ? TimeSpan.FromSeconds(2.5) : TimeSpan.FromSeconds(4);

    public IReadOnlyList<int> Concurrencies { get; } = [1, 4, 16];

    /// <summary>The concurrency of the throughput ratios (no-op, persistence off, process per invocation).</summary>
    public int TopConcurrency => 16;

    /// <summary>Cold starts measured per interpreted runtime (Rust takes fewer).</summary>
    public int ColdStarts => Quick ? 4 : 8;

    public int RustColdStarts => Quick ? 2 : 3;

    /// <summary>The functions deployed for the scale figure.</summary>
    public int ScaleFunctions => 1000;

    /// <summary>The execution records stored for the history figure, against <see cref="SmallHistory"/>.</summary>
    public int LargeHistory => Quick ? 100_000 : 1_000_000;

    public int SmallHistory => 1000;

    /// <summary>Rounds of the scale figures.</summary>
    public int ScaleRounds => Quick ? 3 : 5;

    public int ScaleRequests => Quick ? 60 : 100;
}
