using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;

namespace CrabLambda.Tests.Execution.Process;

/// <summary>
/// The process executor's generic workers, started ahead with real interpreters, with plain processes and in the
/// host's real sandbox: a version that needs a worker takes one that was running before it was deployed, gets its
/// own limits, code, clean /tmp and network setting on it, and the pool starts another in its place.
/// </summary>
public sealed class PrestartedWorkerTests
{
    private const string Echo = "def handler(event):\n    return 'ok'\n";

    [Theory]
    [InlineData(IsolationMode.None, "python")]
    [InlineData(IsolationMode.None, "node")]
    [InlineData(IsolationMode.Sandbox, "python")]
    [InlineData(IsolationMode.Sandbox, "node")]
    public async Task FirstInvoke_NewVersion_RunsOnAWorkerStartedBeforeTheDeploy(IsolationMode isolation, string name)
    {
        await using var harness = Start(isolation);
        var runtime = Runtime(harness, name);
        var startedBefore = await WaitForGenericAsync(harness, name);
        var code = name == "python" ? Echo : "exports.handler = async () => 'ok';";
        var version = ExecutorHarness.Deploy(runtime, code);

        var result = await harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, result.Status);
        Assert.Equal("\"ok\"", result.Output);
        var serving = Assert.Single(harness.Executor.GetWorkerProcessIds(version.FunctionId));
        Assert.Contains(serving, startedBefore);
    }

    [Theory]
    [InlineData(IsolationMode.None)]
    [InlineData(IsolationMode.Sandbox)]
    public async Task Take_RefillsThePool_WithAWorkerThatServedNoFunction(IsolationMode isolation)
    {
        await using var harness = Start(isolation);
        await WaitForGenericAsync(harness, "python");
        var first = ExecutorHarness.Deploy(harness.Python, Echo);
        await harness.InvokeAsync(first);
        var taken = Assert.Single(harness.Executor.GetWorkerProcessIds(first.FunctionId));

        await ExecutorHarness.WaitUntilAsync(
            () => harness.Executor.GetGenericWorkerProcessIds("python") is [var pid] && pid != taken,
            "the pool started a new worker in place of the one taken");
        var refilled = harness.Executor.GetGenericWorkerProcessIds("python");
        var second = ExecutorHarness.Deploy(harness.Python, Echo);
        await harness.InvokeAsync(second);

        Assert.DoesNotContain(taken, refilled);
        Assert.Equal(refilled, harness.Executor.GetWorkerProcessIds(second.FunctionId));
        Assert.Equal([taken], harness.Executor.GetWorkerProcessIds(first.FunctionId));
    }

    [Theory]
    [InlineData("python", 1024, 64, ExecutionStatus.Oom)]
    [InlineData("node", 1024, 64, ExecutionStatus.Oom)]
    [InlineData("python", 64, 512, ExecutionStatus.Success)]
    [InlineData("node", 64, 512, ExecutionStatus.Success)]
    public async Task MemoryLimit_OfTheVersion_HoldsOnATakenWorker(
        string name,
        int startMemoryMb,
        int memoryMb,
        ExecutionStatus expected)
    {
        // Generic workers start with the default memory: the version's limit must replace it, lowered or raised.
        var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var harness = Start(
            IsolationMode.Sandbox,
            options => options.DefaultMemoryMb = startMemoryMb,
            factory.CreateLogger<ProcessExecutor>());
        var code = name == "python"
            ? "def handler(event):\n    return len(bytearray(200 << 20))\n"
            : "exports.handler = async () => Buffer.alloc(200 << 20, 1).length;";
        var version = ExecutorHarness.Deploy(Runtime(harness, name), code, memoryMb: memoryMb, timeoutSecs: 20);
        var startedBefore = await WaitForGenericAsync(harness, name);

        var result = await harness.InvokeAsync(version);

        Assert.True(result.Status == expected, $"{result.Status}: {result.Error}");
        if (expected == ExecutionStatus.Oom)
        {
            Assert.Contains($"{memoryMb} MB", result.Error);
        }
        else
        {
            Assert.Equal((200 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), result.Output);
        }

        var given = Assert.Single(logs.Records, r => r.EventId.Id == 1112);
        Assert.Contains($"(process {startedBefore.Single()})", given.Message);
        Assert.DoesNotContain(logs.Records, r => r.EventId.Id == 1113);
    }

    [Theory]
    [InlineData("python")]
    [InlineData("node")]
    public async Task FirstInvoke_MemoryLimitTooSmallToStart_IsOomWithNoStartTimeAndNoWarning(string name)
    {
        // 1 MB is less than a waiting interpreter uses: cgroup v1 refuses that limit on it, so the version starts a
        // worker of its own, and the kernel kills that one in its group while it loads.
        var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var harness = Start(IsolationMode.Sandbox, logger: factory.CreateLogger<ProcessExecutor>());
        var code = name == "python" ? Echo : "exports.handler = async () => 'ok';";
        var version = ExecutorHarness.Deploy(Runtime(harness, name), code, memoryMb: 1);
        await WaitForGenericAsync(harness, name);

        var result = await harness.InvokeAsync(version);

        Assert.True(result.Status == ExecutionStatus.Oom, $"{result.Status}: {result.Error}");
        Assert.Equal(
            "The function needed more than its memory limit of 1 MB to start: the kernel's out-of-memory killer "
                + "stopped its worker while it loaded.",
            result.Error);
        Assert.Equal(0, result.DurationMs);
        Assert.DoesNotContain(logs.Records, r => r.EventId.Id == 1113);
        if (HostIsolation.Resolve(IsolationMode.Sandbox).Cgroups!.Version == 1)
        {
            var refused = Assert.Single(logs.Records, r => r.EventId.Id == 1114);
            Assert.Equal(LogLevel.Debug, refused.Level);
            Assert.Contains("already uses more than the 1 MB of test-function version 1", refused.Message);
        }
    }

    [Fact]
    public async Task Limits_OfATakenWorker_AreTheVersionsInItsControlGroup()
    {
        // Generic workers start with 1024 MB and a whole CPU; a 128 MB version gets 128 MB and half a CPU.
        await using var harness = Start(IsolationMode.Sandbox, options => options.DefaultMemoryMb = 1024);
        var version = ExecutorHarness.Deploy(harness.Python, Echo, memoryMb: 128);
        var startedBefore = await WaitForGenericAsync(harness, "python");
        var (memoryBefore, cpuBefore) = ReadLimits(startedBefore.Single());

        await harness.InvokeAsync(version);

        var worker = Assert.Single(harness.Executor.GetWorkerProcessIds(version.FunctionId));
        Assert.Equal(startedBefore.Single(), worker);
        Assert.Equal((1024L << 20, 100_000), (memoryBefore, cpuBefore));
        Assert.Equal((128L << 20, 50_000), ReadLimits(worker));
    }

    [Theory]
    [InlineData(IsolationMode.None)]
    [InlineData(IsolationMode.Sandbox)]
    public async Task TemporaryFolder_OfATakenWorker_IsEmpty(IsolationMode isolation)
    {
        await using var harness = Start(isolation);
        var startedBefore = await WaitForGenericAsync(harness, "python");
        var version = ExecutorHarness.Deploy(harness.Python, """
            import os, tempfile
            def handler(event):
                return {"tmp": tempfile.gettempdir(), "files": os.listdir(tempfile.gettempdir())}
            """);

        var result = await harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, result.Status);
        using var output = JsonDocument.Parse(result.Output!);
        Assert.Empty(output.RootElement.GetProperty("files").EnumerateArray());
        Assert.Contains(Assert.Single(harness.Executor.GetWorkerProcessIds(version.FunctionId)), startedBefore);
        if (isolation == IsolationMode.Sandbox)
        {
            Assert.Equal("/tmp", output.RootElement.GetProperty("tmp").GetString());
        }
    }

    [Fact]
    public async Task CodeFolder_OfATakenWorker_ShowsOnlyItsOwnVersion()
    {
        await using var harness = Start(IsolationMode.Sandbox);
        var other = ExecutorHarness.Deploy(harness.Python, "SECRET = 'other-function-secret'\n" + Echo);
        var firstPool = await WaitForGenericAsync(harness, "python");
        await harness.InvokeAsync(other);
        var pool = await WaitForNewGenericAsync(harness, "python", firstPool);
        var work = JsonSerializer.Serialize(harness.WorkDirectory);
        var code = $$"""
            import os
            def handler(event):
                files = sorted(os.listdir("/var/task"))
                with open("/var/task/function.py") as f:
                    code = f.read()
                return {"files": files, "code": code, "work": os.path.exists({{work}})}
            """;
        var version = ExecutorHarness.Deploy(harness.Python, code);

        var result = await harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, result.Status);
        using var output = JsonDocument.Parse(result.Output!);
        var files = output.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetString());
        Assert.Equal(["function.py"], files);
        Assert.Equal(code, output.RootElement.GetProperty("code").GetString());
        Assert.False(output.RootElement.GetProperty("work").GetBoolean());
        Assert.Contains(Assert.Single(harness.Executor.GetWorkerProcessIds(version.FunctionId)), pool);
    }

    [Fact]
    public async Task Network_IsOffOnATakenWorker_AndANetworkVersionStartsAWorkerOfItsOwn()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var code = $$"""
            import socket
            def handler(event):
                with socket.create_connection(("127.0.0.1", {{port}}), timeout=3):
                    return "connected"
            """;
        await using var harness = Start(IsolationMode.Sandbox);
        var isolated = ExecutorHarness.Deploy(harness.Python, code);
        var allowed = ExecutorHarness.Deploy(harness.Python, code, network: true);

        var pool = await WaitForGenericAsync(harness, "python");
        var refused = await harness.InvokeAsync(isolated);
        var refilled = await WaitForNewGenericAsync(harness, "python", pool);
        var connected = await harness.InvokeAsync(allowed);

        Assert.Equal(ExecutionStatus.Error, refused.Status);
        Assert.Contains(Assert.Single(harness.Executor.GetWorkerProcessIds(isolated.FunctionId)), pool);
        Assert.Equal(ExecutionStatus.Success, connected.Status);
        Assert.Equal("\"connected\"", connected.Output);
        var own = Assert.Single(harness.Executor.GetWorkerProcessIds(allowed.FunctionId));
        Assert.DoesNotContain(own, pool.Concat(refilled));
        Assert.Equal(refilled, harness.Executor.GetGenericWorkerProcessIds("python"));
    }

    [Theory]
    [InlineData(IsolationMode.None, "python", "def handler(event:\n    return 1\n", "SyntaxError")]
    [InlineData(IsolationMode.None, "python", "def other(event):\n    return 1\n", "no top-level function named")]
    [InlineData(IsolationMode.None, "node", "exports.handler = async (event => 1;", "SyntaxError")]
    [InlineData(IsolationMode.None, "node", "exports.other = async () => 1;", "no function named 'handler'")]
    [InlineData(IsolationMode.Sandbox, "python", "def handler(event:\n    return 1\n", "SyntaxError")]
    [InlineData(IsolationMode.Sandbox, "node", "exports.other = async () => 1;", "no function named 'handler'")]
    public async Task LoadError_OnATakenWorker_IsTheInvocationsError(
        IsolationMode isolation,
        string name,
        string code,
        string error)
    {
        var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var harness = Start(isolation, logger: factory.CreateLogger<ProcessExecutor>());
        var startedBefore = await WaitForGenericAsync(harness, name);
        var version = ExecutorHarness.Deploy(Runtime(harness, name), code);

        var result = await harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, result.Status);
        Assert.Contains(error, result.Error);
        var given = Assert.Single(logs.Records, r => r.EventId.Id == 1112);
        Assert.Contains($"(process {startedBefore.Single()})", given.Message);
        Assert.DoesNotContain(logs.Records, r => r.EventId.Id == 1113);
    }

    [Theory]
    [InlineData(IsolationMode.None, "python")]
    [InlineData(IsolationMode.None, "node")]
    [InlineData(IsolationMode.Sandbox, "python")]
    [InlineData(IsolationMode.Sandbox, "node")]
    public async Task LoadTimeOutput_OfATakenWorker_LandsOnTheFirstInvocation(IsolationMode isolation, string name)
    {
        await using var harness = Start(isolation);
        var startedBefore = await WaitForGenericAsync(harness, name);
        var code = name == "python"
            ? "import sys\nprint('loading')\nprint('warning', file=sys.stderr)\ndef handler(event):\n"
                + "    print('handled')\n    return 1\n"
            : "console.log('loading');\nconsole.error('warning');\n"
                + "exports.handler = async () => { console.log('handled'); return 1; };";
        var version = ExecutorHarness.Deploy(Runtime(harness, name), code);

        var first = await harness.InvokeAsync(version);
        var second = await harness.InvokeAsync(version);

        Assert.Equal(["loading", "handled"], ExecutorHarness.Lines(first, "info"));
        Assert.Equal(["warning"], ExecutorHarness.Lines(first, "error"));
        Assert.Equal(["handled"], ExecutorHarness.Lines(second, "info"));
        Assert.Empty(ExecutorHarness.Lines(second, "error"));
        Assert.Contains(Assert.Single(harness.Executor.GetWorkerProcessIds(version.FunctionId)), startedBefore);
    }

    [Theory]
    [InlineData(IsolationMode.None)]
    [InlineData(IsolationMode.Sandbox)]
    public async Task Shutdown_StopsEveryPrestartedWorker_AndLeavesNoProcess(IsolationMode isolation)
    {
        await using var harness = Start(isolation, options => options.PrestartedWorkersPerRuntime = 2);
        var waiting = (await WaitForGenericAsync(harness, "python")).Concat(await WaitForGenericAsync(harness, "node"));
        var version = ExecutorHarness.Deploy(harness.Python, Echo);
        await harness.InvokeAsync(version);
        var workDirectory = harness.WorkDirectory;

        await harness.Executor.ShutdownAsync();

        foreach (var pid in waiting.ToArray())
        {
            await ExecutorHarness.WaitUntilGoneAsync(pid);
        }

        await ExecutorHarness.WaitUntilAsync(
            () => !ProcessesMentioning(workDirectory).Any(),
            "no process of the executor's work directory is left");
        Assert.Empty(harness.Executor.GetGenericWorkerProcessIds("python"));
    }

    [Fact]
    public async Task StartGenericWorkers_SaysTheyAreOnWithTheirNumber_AndStartsThatMany()
    {
        var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var harness = Start(
            IsolationMode.None,
            options => options.PrestartedWorkersPerRuntime = 2,
            factory.CreateLogger<ProcessExecutor>());

        await WaitForGenericAsync(harness, "python");
        await WaitForGenericAsync(harness, "node");

        var on = Assert.Single(logs.Records, r => r.EventId.Id == 1108);
        Assert.Equal(LogLevel.Information, on.Level);
        Assert.Contains("2 per runtime for python, node (network off)", on.Message);
        Assert.Equal(4, logs.Records.Count(r => r.EventId.Id == 1110));
    }

    [Fact]
    public async Task PrestartedWorkersPerRuntime_Zero_StartsNone_AndAVersionStartsItsOwnWorker()
    {
        var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var harness = Start(
            IsolationMode.None,
            options => options.PrestartedWorkersPerRuntime = 0,
            factory.CreateLogger<ProcessExecutor>());
        var version = ExecutorHarness.Deploy(harness.Python, Echo);

        var result = await harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, result.Status);
        Assert.Empty(harness.Executor.GetGenericWorkerProcessIds("python"));
        var off = Assert.Single(logs.Records, r => r.EventId.Id == 1109);
        Assert.Equal(
            "Pre-started workers are off: PrestartedWorkersPerRuntime (PRESTARTED_WORKERS in the server) is 0.",
            off.Message);
        Assert.DoesNotContain(logs.Records, r => r.EventId.Id is 1110 or 1112);
    }

    [Fact]
    public async Task StartGenericWorkers_LauncherThatCannotStartThem_SaysTheyAreOff()
    {
        var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var launcher = new Mock<IWorkerLauncher>();
        launcher.Setup(l => l.CanStartGeneric).Returns(false);
        var options = Microsoft.Extensions.Options.Options.Create(new CrabLambdaOptions
        {
            WorkDirectory = Path.Combine(Path.GetTempPath(), "crablambda-unused-" + Guid.NewGuid().ToString("N")),
        });
        await using var executor = new ProcessExecutor(
            options,
            launcher.Object,
            TimeProvider.System,
            factory.CreateLogger<ProcessExecutor>());
        var runtime = new Mock<IRuntime>();
        runtime.Setup(r => r.Name).Returns("python");
        runtime.Setup(r => r.SupportsGenericWorkers).Returns(true);

        executor.StartGenericWorkers([runtime.Object]);

        var off = Assert.Single(logs.Records, r => r.EventId.Id == 1109);
        Assert.Contains("starts every worker for its function version", off.Message);
        launcher.Verify(
            l => l.StartGenericAsync(It.IsAny<GenericWorkerStartInfo>(), It.IsAny<CancellationToken>()),
            Times.Never);
        runtime.Verify(r => r.GetGenericLaunchAsync(It.IsAny<CancellationToken>()), Times.Never);
    }

    /// <summary>
    /// An executor that has started its generic workers, as the host's lifetime service does: one per runtime unless
    /// a test says otherwise, so that which worker a version takes is known.
    /// </summary>
    private static ExecutorHarness Start(
        IsolationMode isolation,
        Action<CrabLambdaOptions>? configure = null,
        ILogger<ProcessExecutor>? logger = null)
    {
        var harness = new ExecutorHarness(
            configure: options =>
            {
                options.PrestartedWorkersPerRuntime = 1;
                configure?.Invoke(options);
            },
            logger: logger,
            isolation: isolation);
        harness.Executor.StartGenericWorkers([harness.Python, harness.Node]);
        return harness;
    }

    /// <summary>Waits until the runtime's pool is full and returns the process ids of its waiting workers.</summary>
    private static async Task<int[]> WaitForGenericAsync(ExecutorHarness harness, string runtime)
    {
        var count = harness.Options.PrestartedWorkersPerRuntime;
        await ExecutorHarness.WaitUntilAsync(
            () => harness.Executor.GetGenericWorkerProcessIds(runtime).Count == count,
            $"{count} {runtime} worker(s) were started ahead");
        return [.. harness.Executor.GetGenericWorkerProcessIds(runtime)];
    }

    /// <summary>Waits until the pool is full again, with none of the workers in <paramref name="earlier"/>.</summary>
    private static async Task<int[]> WaitForNewGenericAsync(ExecutorHarness harness, string runtime, int[] earlier)
    {
        var count = harness.Options.PrestartedWorkersPerRuntime;
        await ExecutorHarness.WaitUntilAsync(
            () => harness.Executor.GetGenericWorkerProcessIds(runtime) is var pids
                && pids.Count == count
                && !pids.Intersect(earlier).Any(),
            $"the {runtime} pool was refilled");
        return [.. harness.Executor.GetGenericWorkerProcessIds(runtime)];
    }

    /// <summary>The memory limit and CPU quota per period of a process's control group, from the kernel.</summary>
    private static (long MemoryBytes, long CpuQuotaMicroseconds) ReadLimits(int pid)
    {
        var mounts = CgroupMounts.Read(cgroupPath: $"/proc/{pid}/cgroup");
        if (mounts.V1.TryGetValue("memory", out var memory) && mounts.V1.TryGetValue("cpu", out var cpu))
        {
            return (long.Parse(Read(memory, "memory.limit_in_bytes")), long.Parse(Read(cpu, "cpu.cfs_quota_us")));
        }

        var unified = mounts.Unified ?? throw new InvalidOperationException($"process {pid} is in no control group");
        return (long.Parse(Read(unified, "memory.max")), long.Parse(Read(unified, "cpu.max").Split(' ')[0]));

        static string Read(string folder, string file) => File.ReadAllText(Path.Combine(folder, file)).Trim();
    }

    private static IRuntime Runtime(ExecutorHarness harness, string name) =>
        name == "python" ? harness.Python : harness.Node;

    private static IEnumerable<int> ProcessesMentioning(string text)
    {
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid) || !ProcessTree.IsRunning(pid))
            {
                continue;
            }

            string commandLine;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(folder, "cmdline"));
            }
            catch (IOException)
            {
                continue;
            }

            if (commandLine.Contains(text, StringComparison.Ordinal))
            {
                yield return pid;
            }
        }
    }
}
