using System.Diagnostics;
using CrabLambda.Bench.Harness;
using CrabLambda.Bench.Load;
using CrabLambda.Bench.Report;

namespace CrabLambda.Bench.Figures;

/// <summary>
/// Scale: two servers side by side on fresh databases, one small and one large, measured in turn. First the invoke
/// latency of one warm function with 1 function deployed against 1,000; then a history query
/// (<c>status=error&amp;limit=50</c>) with 1,000 execution records stored against 1,000,000, written in bulk straight
/// through the store.
/// </summary>
internal sealed class ScaleFigures(BenchContext context, string store, Func<string, Task<string>> newDatabaseUrl)
{
    private const string Target = "scale-target";
    private const string Runtime = "python";
    private const int ErrorEvery = 10;
    private const int SeedBatch = 10_000;

    private BenchSettings Settings => context.Settings;

    public async Task MeasureAsync()
    {
        context.Progress($"{store}: scale, starting two servers");
        var smallUrl = await newDatabaseUrl("scale_small");
        await using var small = await context.StartServerAsync($"{store}-scale-small", smallUrl);
        var largeUrl = await newDatabaseUrl("scale_large");
        await using var large = await context.StartServerAsync($"{store}-scale-large", largeUrl);
        using var smallApi = new ApiClient(small.Address);
        using var largeApi = new ApiClient(large.Address);

        var code = FunctionCode.For(Runtime);
        await smallApi.DeployAsync(Target, Runtime, code);
        await largeApi.DeployAsync(Target, Runtime, code);

        context.Progress($"{store}: scale, deploying {Units.Count(Settings.ScaleFunctions)} functions");
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            int number;
            while ((number = Interlocked.Increment(ref next)) < Settings.ScaleFunctions)
            {
                await largeApi.DeployAsync($"scale-filler-{number:0000}", Runtime, code);
            }
        })));

        await MeasureLatencyAsync(smallApi, largeApi);
        await MeasureHistoryAsync(smallApi, largeApi);
    }

    private async Task MeasureLatencyAsync(ApiClient smallApi, ApiClient largeApi)
    {
        context.Progress($"{store}: scale, invoke latency with 1 and {Units.Count(Settings.ScaleFunctions)} functions");
        const string Path = $"api/functions/{Target}/invoke";
        // Each server on its own, as long as the main server is warmed, so that both run optimised code.
        await LoadRunner.WarmUpAsync(Settings.ServerWarmUp, () => smallApi.PostSucceedsAsync(Path, FunctionCode.Event));
        await LoadRunner.WarmUpAsync(Settings.ServerWarmUp, () => largeApi.PostSucceedsAsync(Path, FunctionCode.Event));

        var one = new Series();
        var many = new Series();
        await Interleave.RunAsync(
            Settings.ScaleRounds,
            async () => one.Add(await LoadRunner.RunCountAsync(
                1,
                Settings.ScaleRequests,
                () => smallApi.PostSucceedsAsync(Path, FunctionCode.Event))),
            async () => many.Add(await LoadRunner.RunCountAsync(
                1,
                Settings.ScaleRequests,
                () => largeApi.PostSucceedsAsync(Path, FunctionCode.Event))));

        var manyP50 = many.Latencies.PercentileMs(50);
        var oneP50 = one.Latencies.PercentileMs(50);
        context.Table.Add(new ResultRow(
            $"warm invoke p50 with {Units.Count(Settings.ScaleFunctions)} functions deployed ÷ 1, c=1",
            Runtime,
            store,
            Units.Ms(manyP50) + Failed(many),
            $"1 function deployed {Units.Ms(oneP50)}" + Failed(one),
            manyP50 / oneP50,
            Report.Target.Max(1.2)));
    }

    private async Task MeasureHistoryAsync(ApiClient smallApi, ApiClient largeApi)
    {
        context.Progress($"{store}: scale, writing {Units.Count(Settings.LargeHistory)} execution records");
        await smallApi.SeedAsync(Target, Settings.SmallHistory, ErrorEvery, SeedBatch);
        var seeding = await largeApi.SeedAsync(Target, Settings.LargeHistory, ErrorEvery, SeedBatch);
        context.Table.Add(new ResultRow(
            $"bulk write of {Units.Count(Settings.LargeHistory)} execution records (AddExecutionsAsync, "
                + $"batches of {Units.Count(SeedBatch)})",
            "–",
            store,
            Units.PerSecond(Settings.LargeHistory / seeding.TotalSeconds) + $" ({seeding.TotalSeconds:0.0} s)",
            "",
            null));

        context.Progress($"{store}: scale, history queries");
        const string Query = $"api/functions/{Target}/executions?status=error&limit=50";
        await LoadRunner.WarmUpAsync(
            Settings.WarmUp,
            () => smallApi.GetSucceedsAsync(Query),
            () => largeApi.GetSucceedsAsync(Query));

        var few = new Series();
        var many = new Series();
        await Interleave.RunAsync(
            Settings.ScaleRounds,
            async () => few.Add(await LoadRunner.RunCountAsync(
                1,
                Settings.ScaleRequests,
                () => smallApi.GetSucceedsAsync(Query))),
            async () => many.Add(await LoadRunner.RunCountAsync(
                1,
                Settings.ScaleRequests,
                () => largeApi.GetSucceedsAsync(Query))));

        var manyP50 = many.Latencies.PercentileMs(50);
        var fewP50 = few.Latencies.PercentileMs(50);
        context.Table.Add(new ResultRow(
            $"history query p50 (status=error&limit=50), {Short(Settings.LargeHistory)} ÷ "
                + $"{Short(Settings.SmallHistory)} executions stored",
            "–",
            store,
            Units.Ms(manyP50) + Failed(many),
            $"{Short(Settings.SmallHistory)} executions {Units.Ms(fewP50)}" + Failed(few),
            manyP50 / fewP50,
            Report.Target.Max(2.0)));
    }

    private static string Short(int count) => count switch
    {
        >= 1_000_000 => $"{count / 1_000_000}M",
        >= 1000 => $"{count / 1000}k",
        _ => count.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Failed(Series series) => series.Failed > 0 ? $" ({series.Failed} failed)" : "";
}
