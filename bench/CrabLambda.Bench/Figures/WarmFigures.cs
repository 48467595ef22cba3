using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using CrabLambda.Bench.Harness;
using CrabLambda.Bench.Load;
using CrabLambda.Bench.Report;
using CrabLambda.Functions;

namespace CrabLambda.Bench.Figures;

/// <summary>
/// The figures of warm invocations on one server: latency at concurrency 1, throughput and server CPU at each
/// concurrency, the cost of committing records, and the naive process-per-invocation way, each interleaved with its
/// floor.
/// </summary>
internal sealed class WarmFigures(BenchContext context, ServerProcess server, ApiClient api, string store)
{
    private const string NoopPath = "bench/noop";

    private BenchSettings Settings => context.Settings;

    public static string FunctionName(string runtime) => $"warm-{runtime}";

    public static string InvokePath(string runtime) => $"api/functions/{FunctionName(runtime)}/invoke";

    public async Task MeasureLatencyAsync(string runtime)
    {
        context.Progress($"{store} {runtime}: warm latency at concurrency 1");
        var path = InvokePath(runtime);
        var floorVersion = context.FloorVersions[runtime];
        await LoadRunner.RunForAsync(1, Settings.WarmUp, () => api.PostSucceedsAsync(path, FunctionCode.Event));
        await LoadRunner.RunForAsync(1, Settings.WarmUp, () => api.PostSucceedsAsync(NoopPath, FunctionCode.Event));
        await LoadRunner.RunForAsync(
            1,
            Settings.WarmUp,
            () => context.Floor.InvokeAsync(floorVersion, FunctionCode.Event));
        await api.ResetPhasesAsync();

        var invoke = new Series();
        var overhead = new Latencies();
        var inHandler = new Latencies();
        var noop = new Series();
        var worker = new Series();
        await Interleave.RunAsync(
            Settings.LatencyRounds,
            async () =>
            {
                for (var i = 0; i < Settings.LatencyRequests; i++)
                {
                    var sent = Stopwatch.GetTimestamp();
                    var answer = await api.PostAsync(path, FunctionCode.Event);
                    var latency = Stopwatch.GetElapsedTime(sent);
                    invoke.AddSample(latency);
                    if (answer is null)
                    {
                        invoke.AddFailure();
                        continue;
                    }

                    var handlerMicroseconds = HandlerMicroseconds(answer);
                    inHandler.RecordMicroseconds(handlerMicroseconds);
                    overhead.RecordMicroseconds(latency.TotalMicroseconds - handlerMicroseconds);
                }
            },
            async () => noop.Add(await LoadRunner.RunCountAsync(
                1,
                Settings.LatencyRequests,
                () => api.PostSucceedsAsync(NoopPath, FunctionCode.Event))),
            async () => worker.Add(await LoadRunner.RunCountAsync(
                1,
                Settings.LatencyRequests,
                () => context.Floor.InvokeAsync(floorVersion, FunctionCode.Event))));
        var phases = await api.GetPhasesAsync();

        var table = context.Table;
        var p50 = invoke.Latencies.PercentileMs(50);
        var p99 = invoke.Latencies.PercentileMs(99);
        var noopP50 = noop.Latencies.PercentileMs(50);
        var workerP50 = worker.Latencies.PercentileMs(50);
        table.Add(new ResultRow(
            "warm invoke p50, c=1",
            runtime,
            store,
            Units.Ms(p50) + Failures(invoke.Failed),
            $"no-op endpoint {Units.Ms(noopP50)}",
            p50 / noopP50,
            Target.Max(2.0)));
        table.Add(new ResultRow(
            "warm invoke p99, c=1",
            runtime,
            store,
            Units.Ms(p99),
            $"no-op endpoint {Units.Ms(noop.Latencies.PercentileMs(99))}",
            p99 / noop.Latencies.PercentileMs(99)));
        table.Add(new ResultRow(
            $"overhead p50 (latency − in-handler {Units.Ms(inHandler.PercentileMs(50))}), c=1",
            runtime,
            store,
            Units.Ms(overhead.PercentileMs(50)),
            $"worker round trip, no HTTP/DB {Units.Ms(workerP50)}",
            overhead.PercentileMs(50) / workerP50));
        context.Profile.Add(new PhaseRow(runtime, store, 1, p50, noopP50, workerP50, phases));
    }

    public async Task MeasureThroughputAsync(string runtime)
    {
        var path = InvokePath(runtime);
        foreach (var concurrency in Settings.Concurrencies)
        {
            context.Progress($"{store} {runtime}: throughput at concurrency {concurrency}");
            var top = concurrency == Settings.TopConcurrency;
            await LoadRunner.RunForAsync(
                concurrency,
                Settings.WarmUp,
                () => api.PostSucceedsAsync(path, FunctionCode.Event));
            await LoadRunner.RunForAsync(
                concurrency,
                Settings.WarmUp,
                () => api.PostSucceedsAsync(NoopPath, FunctionCode.Event));
            await api.ResetPhasesAsync();

            var invoke = new Series();
            var noop = new Series();
            var unpersisted = new Series();
            var naive = new Series();
            var lanes = new ConcurrentBag<FunctionVersion>(
                Enumerable.Range(0, concurrency).Select(_ => ExecutorFloor.Copy(context.FloorVersions[runtime])));
            var figures = new List<Func<Task>>
            {
                async () => invoke.Add(await MeasuredRoundAsync(concurrency, path)),
                async () => noop.Add(await MeasuredRoundAsync(concurrency, NoopPath)),
            };
            if (top)
            {
                figures.Add(async () =>
                {
                    await api.SetPersistenceAsync(false);
                    try
                    {
                        unpersisted.Add(await MeasuredRoundAsync(concurrency, path));
                    }
                    finally
                    {
                        await api.SetPersistenceAsync(true);
                    }
                });
                figures.Add(async () => naive.Add(await LoadRunner.RunForAsync(
                    concurrency,
                    Settings.ThroughputRound,
                    async () =>
                    {
                        lanes.TryTake(out var version);
                        try
                        {
                            return await context.Floor.InvokeInNewProcessAsync(version!, FunctionCode.Event);
                        }
                        finally
                        {
                            lanes.Add(version!);
                        }
                    })));
            }

            await Interleave.RunAsync(Settings.ThroughputRounds, [.. figures]);
            var phases = await api.GetPhasesAsync();

            var table = context.Table;
            table.Add(new ResultRow(
                $"throughput, records committed, c={concurrency}",
                runtime,
                store,
                Units.PerSecond(invoke.PerSecond) + Failures(invoke.Failed),
                $"no-op endpoint {Units.PerSecond(noop.PerSecond)}",
                invoke.PerSecond / noop.PerSecond,
                top && store == "sqlite" ? Target.Min(0.25) : null));
            table.Add(new ResultRow(
                $"server CPU per 1,000 invocations, c={concurrency}",
                runtime,
                store,
                Units.Ms(invoke.CpuMsPerThousand),
                $"no-op endpoint {Units.Ms(noop.CpuMsPerThousand)}",
                invoke.CpuMsPerThousand / noop.CpuMsPerThousand));
            if (top)
            {
                table.Add(new ResultRow(
                    $"throughput, records committed ÷ persistence off, c={concurrency}",
                    runtime,
                    store,
                    Units.PerSecond(invoke.PerSecond),
                    $"persistence off {Units.PerSecond(unpersisted.PerSecond)}" + Failures(unpersisted.Failed),
                    invoke.PerSecond / unpersisted.PerSecond,
                    Target.Min(0.9)));
                table.Add(new ResultRow(
                    $"warm throughput ÷ a new process per invocation, c={concurrency}",
                    runtime,
                    store,
                    Units.PerSecond(invoke.PerSecond),
                    $"process per invocation, no HTTP/DB {Units.PerSecond(naive.PerSecond)}" + Failures(naive.Failed),
                    invoke.PerSecond / naive.PerSecond,
                    Target.Min(20)));
            }

            context.Profile.Add(new PhaseRow(
                runtime,
                store,
                concurrency,
                invoke.Latencies.PercentileMs(50),
                noop.Latencies.PercentileMs(50),
                double.NaN,
                phases));
        }
    }

    /// <summary>The resident memory of the function's warm workers beside that of the bare interpreter.</summary>
    public async Task MeasureMemoryAsync(string runtime)
    {
        context.Progress($"{store} {runtime}: memory per warm worker");
        var pids = await api.GetWorkerProcessIdsAsync(FunctionName(runtime));
        // The interpreter's own process, as the floor is one interpreter; a sandbox's bubblewrap processes are apart.
        var resident = pids
            .Select(pid => ProcessStats.ResidentMb(ProcessStats.Innermost(pid)))
            .OfType<double>()
            .Order()
            .ToArray();
        var worker = resident.Length == 0 ? double.NaN : resident[resident.Length / 2];
        var value = $"{Units.Mb(worker)} (median of {resident.Length})";
        if (!FunctionCode.HasInterpreter(runtime))
        {
            context.Table.Add(
                new ResultRow("memory per warm worker (RSS)", runtime, "–", value, "no interpreter", null));
            return;
        }

        var bare = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            bare.Add(await context.Interpreters.MeasureIdleMemoryMbAsync(runtime));
        }

        var bareMedian = bare.Order().ElementAt(1);
        context.Table.Add(new ResultRow(
            "memory per warm worker (RSS)",
            runtime,
            "–",
            value,
            $"bare interpreter {Units.Mb(bareMedian)}",
            worker / bareMedian,
            Target.Max(1.3)));
    }

    private async Task<RoundResult> MeasuredRoundAsync(int concurrency, string path)
    {
        var cpuBefore = server.CpuTime;
        var round = await LoadRunner.RunForAsync(
            concurrency,
            Settings.ThroughputRound,
            () => api.PostSucceedsAsync(path, FunctionCode.Event));
        return round with { ServerCpu = server.CpuTime - cpuBefore };
    }

    private static double HandlerMicroseconds(byte[] answer)
    {
        using var document = JsonDocument.Parse(answer);
        return document.RootElement.GetProperty("output").GetProperty("handler_ns").GetDouble() / 1000.0;
    }

    private static string Failures(long failed) => failed > 0 ? $" ({Units.Count(failed)} failed)" : "";
}
