using System.Globalization;
using System.Text;
using CrabLambda.Bench.Figures;
using CrabLambda.Bench.Harness;
using CrabLambda.Bench.Load;
using CrabLambda.Bench.Report;

namespace CrabLambda.Bench;

/// <summary>
/// One run of the benchmark: every figure on SQLite, then on PostgreSQL, each beside its floor, then the report.
/// </summary>
internal static class BenchRun
{
    public static async Task<int> RunAsync(BenchSettings settings, string? outputPath)
    {
        var workDirectory = Directory.CreateTempSubdirectory("crablambda-bench-").FullName;
        var succeeded = false;
        try
        {
            var machine = await MachineInfo.ReadAsync();
            var interpreters = await Interpreters.ResolveAsync();
            await using var floor = new ExecutorFloor(Path.Combine(workDirectory, "floor"));
            var context = new BenchContext(settings, workDirectory, interpreters, floor);
            context.Progress($"{(settings.Quick ? "quick" : "full")} run; work folder {workDirectory}");

            await using var postgres = settings.WithPostgres
                ? await PostgresCluster.StartAsync(settings.Postgres)
                : null;

            await MeasureStoreAsync(context, "sqlite", label => Task.FromResult(context.NewSqliteUrl(label)));
            if (postgres is not null)
            {
                await MeasureStoreAsync(context, "postgres", _ => postgres.CreateDatabaseAsync());
            }

            await MeasureSandboxColdStartAsync(context);

            var report = await WriteReportAsync(context, machine, interpreters, postgres?.Description);
            Console.Out.Write(report);
            if (outputPath is not null)
            {
                await File.WriteAllTextAsync(outputPath, report);
            }

            context.Progress("done");
            succeeded = true;
            return 0;
        }
        finally
        {
            if (succeeded)
            {
                TryDelete(workDirectory);
            }
            else
            {
                await Console.Error.WriteLineAsync($"The run failed; the servers' logs are in {workDirectory}.");
            }
        }
    }

    private static async Task MeasureStoreAsync(
        BenchContext context,
        string store,
        Func<string, Task<string>> newDatabaseUrl)
    {
        context.Progress($"{store}: starting the server and deploying the functions");
        await using (var server = await context.StartServerAsync($"{store}-main", await newDatabaseUrl("main")))
        {
            using var api = new ApiClient(server.Address);
            foreach (var runtime in FunctionCode.Runtimes)
            {
                await api.DeployAsync(WarmFigures.FunctionName(runtime), runtime, FunctionCode.For(runtime));
                if (!context.FloorVersions.ContainsKey(runtime))
                {
                    context.FloorVersions[runtime] = await context.Floor.PrepareAsync(
                        runtime,
                        FunctionCode.For(runtime));
                }
            }

            context.Progress($"{store}: warming the server up");
            await LoadRunner.WarmUpAsync(
                context.Settings.ServerWarmUp,
                [
                    .. FunctionCode.Runtimes.Select<string, Func<Task<bool>>>(runtime =>
                        () => api.PostSucceedsAsync(WarmFigures.InvokePath(runtime), FunctionCode.Event)),
                    () => api.PostSucceedsAsync("bench/noop", FunctionCode.Event),
                    .. FunctionCode.Runtimes.Select<string, Func<Task<bool>>>(runtime =>
                        () => context.Floor.InvokeAsync(context.FloorVersions[runtime], FunctionCode.Event)),
                ]);

            var settings = context.Settings;
            var warm = new WarmFigures(context, server, api, store);
            if (settings.Measures("latency"))
            {
                foreach (var runtime in FunctionCode.Runtimes)
                {
                    await warm.MeasureLatencyAsync(runtime);
                }
            }

            // Memory does not depend on the store: measured once, with the workers the throughput figures started
            // (or, without them, those the warm-up started). Each runtime's right after its own throughput figures,
            // since the next runtime's workers may push its idle ones out past MAX_IDLE_WORKERS.
            var memory = store == "sqlite" && settings.Measures("memory");
            var throughput = settings.Measures("throughput");
            foreach (var runtime in FunctionCode.Runtimes)
            {
                if (throughput)
                {
                    await warm.MeasureThroughputAsync(runtime);
                }

                if (memory)
                {
                    await warm.MeasureMemoryAsync(runtime);
                }
            }

            if (settings.Measures("cold-start"))
            {
                var cold = new ColdStartFigures(context, api, store, settings.Isolation);
                foreach (var runtime in FunctionCode.Runtimes)
                {
                    await cold.MeasureAsync(runtime);
                }
            }
        }

        if (context.Settings.Measures("scale"))
        {
            await new ScaleFigures(context, store, newDatabaseUrl).MeasureAsync();
        }
    }

    /// <summary>Cold starts with the sandbox, on SQLite, unless the main figures already ran with it.</summary>
    private static async Task MeasureSandboxColdStartAsync(BenchContext context)
    {
        if (context.Settings.Isolation == "sandbox" || !context.Settings.Measures("cold-start"))
        {
            return;
        }

        const string Store = "sqlite";
        context.Progress("sqlite: cold start with ISOLATION=sandbox");
        var interpreted = FunctionCode.Runtimes.Where(FunctionCode.HasInterpreter).ToArray();
        ServerProcess server;
        try
        {
            server = await context.StartServerAsync("sqlite-sandbox", context.NewSqliteUrl("sandbox"), "sandbox");
        }
        catch (ServerStartException exception)
        {
            var why = FirstSentence(exception.Message);
            foreach (var runtime in interpreted)
            {
                ColdStartFigures.NotAvailable(context, runtime, Store, "sandbox", why);
            }

            return;
        }

        await using (server)
        {
            using var api = new ApiClient(server.Address);
            var cold = new ColdStartFigures(context, api, Store, "sandbox");
            foreach (var runtime in interpreted)
            {
                await cold.MeasureAsync(runtime);
            }
        }
    }

    private static async Task<string> WriteReportAsync(
        BenchContext context,
        MachineInfo machine,
        Interpreters interpreters,
        string? postgres)
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine(invariant, $"# CrabLambda benchmark ({(context.Settings.Quick ? "quick" : "full")} run)");
        text.AppendLine();
        text.AppendLine(invariant, $"- machine: {machine.Cores} cores, {machine.Memory}, {machine.Cpu}");
        text.AppendLine(invariant, $"- system: {machine.System}, kernel {machine.Kernel}");
        var python = await interpreters.VersionAsync("python");
        var node = await interpreters.VersionAsync("node");
        text.AppendLine(invariant, $"- software: {machine.DotNet}; {python}; {node}; {machine.Rust}");
        var stores = "SQLite (WAL, synchronous=NORMAL)" + (postgres is null ? "" : $"; {postgres}");
        text.AppendLine(invariant, $"- stores: {stores}");
        text.AppendLine(invariant, $"- isolation of the servers: ISOLATION={context.Settings.Isolation}");
        if (context.Settings.Only.Count > 0)
        {
            var groups = BenchSettings.Groups.Where(context.Settings.Only.Contains);
            text.AppendLine(invariant, $"- figures: only {string.Join(", ", groups)}");
        }

        text.AppendLine(invariant, $"- run time: {context.Elapsed:mm\\:ss}");
        text.AppendLine();
        text.Append(context.Table.ToMarkdown());
        if (context.Profile.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("Where the time of a warm invocation goes (p50 of each phase, timed inside the server):");
            text.AppendLine();
            text.Append(PhaseRow.ToMarkdown(context.Profile));
        }

        return text.ToString();
    }

    private static string FirstSentence(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = lines.FirstOrDefault(l => l.Contains("ISOLATION", StringComparison.Ordinal)) ?? lines.LastOrDefault()
            ?? message;
        var end = line.IndexOf(". ", StringComparison.Ordinal);
        return (end > 0 ? line[..(end + 1)] : line).Replace("|", "/", StringComparison.Ordinal);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A worker folder still being removed; the folder is in the temporary directory.
        }
    }
}
