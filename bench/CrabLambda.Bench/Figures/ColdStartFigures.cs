using System.Diagnostics;
using CrabLambda.Bench.Harness;
using CrabLambda.Bench.Load;
using CrabLambda.Bench.Report;

namespace CrabLambda.Bench.Figures;

/// <summary>
/// Cold start: the first invocation of a newly deployed function, which starts its first worker, interleaved with a
/// bare start of the runtime's interpreter. The deploy itself is not timed.
/// </summary>
internal sealed class ColdStartFigures(BenchContext context, ApiClient api, string store, string isolation)
{
    private int _deployed;

    public async Task MeasureAsync(string runtime)
    {
        context.Progress($"{store} {runtime}: cold start (isolation {isolation})");
        var count = runtime == "rust" ? context.Settings.RustColdStarts : context.Settings.ColdStarts;
        var cold = new Series();
        var bare = new Series();
        var code = FunctionCode.For(runtime);

        // A first bare start outside the figure, so that neither side pays for reading the interpreter from disk.
        if (FunctionCode.HasInterpreter(runtime))
        {
            await context.Interpreters.TimeBareStartAsync(runtime);
        }

        var figures = new List<Func<Task>>
        {
            async () =>
            {
                var name = $"cold-{runtime}-{isolation}-{Interlocked.Increment(ref _deployed)}";
                await api.DeployAsync(name, runtime, code);
                var sent = Stopwatch.GetTimestamp();
                var ok = await api.PostSucceedsAsync($"api/functions/{name}/invoke", FunctionCode.Event);
                cold.AddSample(Stopwatch.GetElapsedTime(sent));
                if (!ok)
                {
                    cold.AddFailure();
                }
            },
        };
        if (FunctionCode.HasInterpreter(runtime))
        {
            figures.Add(async () => bare.AddSample(await context.Interpreters.TimeBareStartAsync(runtime)));
        }

        await Interleave.RunAsync(count, [.. figures]);

        var p50 = cold.Latencies.PercentileMs(50);
        var value = $"{Units.Ms(p50)} (max {Units.Ms(cold.Latencies.PercentileMs(100))})"
            + (cold.Failed > 0 ? $" ({cold.Failed} failed)" : "");
        var figure = $"cold start p50, isolation {isolation}";
        if (!FunctionCode.HasInterpreter(runtime))
        {
            context.Table.Add(new ResultRow(figure, runtime, store, value, "no interpreter", null));
            return;
        }

        var (program, arguments) = context.Interpreters.BareStart(runtime);
        var bareP50 = bare.Latencies.PercentileMs(50);
        context.Table.Add(new ResultRow(
            figure,
            runtime,
            store,
            value,
            $"`{Path.GetFileName(program)} {string.Join(' ', arguments)}` {Units.Ms(bareP50)}",
            p50 / bareP50,
            isolation == "sandbox" ? Target.Max(1.0) : null));
    }

    /// <summary>A row that says why a cold start could not be measured under this isolation.</summary>
    public static void NotAvailable(BenchContext context, string runtime, string store, string isolation, string why) =>
        context.Table.Add(new ResultRow(
            $"cold start p50, isolation {isolation}",
            runtime,
            store,
            "not available: " + why,
            "",
            double.NaN,
            isolation == "sandbox" ? Target.Max(1.0) : null));
}
