using System.Diagnostics;
using CrabLambda.Bench.Figures;
using CrabLambda.Bench.Harness;
using CrabLambda.Bench.Report;
using CrabLambda.Functions;

namespace CrabLambda.Bench;

/// <summary>What every figure of a run shares: settings, the floors, the table and the way to start servers.</summary>
internal sealed class BenchContext(
    BenchSettings settings,
    string workDirectory,
    Interpreters interpreters,
    ExecutorFloor floor)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _servers;

    public BenchSettings Settings => settings;

    public Interpreters Interpreters => interpreters;

    public ExecutorFloor Floor => floor;

    public ResultTable Table { get; } = new();

    public List<PhaseRow> Profile { get; } = [];

    /// <summary>The executor-floor version of each runtime's function, made once.</summary>
    public Dictionary<string, FunctionVersion> FloorVersions { get; } = new(StringComparer.Ordinal);

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Says what the run is doing, on stderr, so that stdout holds only the report.</summary>
    public void Progress(string message) =>
        Console.Error.WriteLine($"[{_clock.Elapsed:mm\\:ss}] {message}");

    /// <summary>A fresh SQLite database file in the run's folder.</summary>
    public string NewSqliteUrl(string label) => "sqlite:" + Path.Combine(workDirectory, $"{label}.db");

    public Task<ServerProcess> StartServerAsync(string label, string databaseUrl, string? isolation = null)
    {
        var number = Interlocked.Increment(ref _servers);
        var variables = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["DATABASE_URL"] = databaseUrl,
            ["SERVER_HOST"] = "127.0.0.1",
            ["SERVER_PORT"] = "0",
            ["ISOLATION"] = isolation ?? settings.Isolation,
            ["ENABLE_AUTH"] = "false",
        };
        return ServerProcess.StartAsync(
            variables,
            workDirectory,
            Path.Combine(workDirectory, $"server-{number}-{label}.log"));
    }
}
