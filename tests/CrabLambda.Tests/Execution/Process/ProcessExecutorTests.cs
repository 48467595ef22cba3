using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Storage;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace CrabLambda.Tests.Execution.Process;

/// <summary>
/// Pooling, lifetime and isolation of workers, with real python3 and node processes.
/// </summary>
public sealed class ProcessExecutorTests : IAsyncLifetime
{
    private const string ReturnsPid = "import os\n\ndef handler(event):\n    return os.getpid()\n";

    private ExecutorHarness _harness = null!;
    private string _scratch = null!;

    public Task InitializeAsync()
    {
        _harness = new ExecutorHarness();
        _scratch = Directory.CreateTempSubdirectory("crablambda-scratch-").FullName;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _harness.DisposeAsync();
        Directory.Delete(_scratch, recursive: true);
    }

    [Fact]
    public async Task Execute_TwoInvocations_AreServedByTheSameWorkerInASessionOfItsOwn()
    {
        var version = _harness.DeployPython(ReturnsPid);

        var first = await _harness.InvokeAsync(version);
        var second = await _harness.InvokeAsync(version);

        var pid = int.Parse(first.Output!);
        Assert.Equal(pid, int.Parse(second.Output!));
        Assert.Equal([pid], _harness.Executor.GetWorkerProcessIds(version.FunctionId));
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        Assert.Equal(pid.ToString(), fields[2]);
        Assert.Equal(pid.ToString(), fields[3]);
    }

    [Theory]
    [InlineData(IsolationMode.None)]
    [InlineData(IsolationMode.Sandbox)]
    public async Task Execute_AnyIsolation_WorkerLeadsASessionApartFromTheServers(IsolationMode isolation)
    {
        // A terminal's Ctrl-C signals the server's whole process group: no worker process may be in it.
        await using var harness = new ExecutorHarness(isolation: isolation);
        var version = harness.DeployPython(ReturnsPid);

        var result = await harness.InvokeAsync(version);

        Assert.True(result.Status == ExecutionStatus.Success, result.Error);
        var worker = Assert.Single(harness.Executor.GetWorkerProcessIds(version.FunctionId));
        Assert.Equal((worker, worker), ProcessIds.GroupAndSession(worker));
        Assert.NotEqual(ProcessIds.GroupAndSession(Environment.ProcessId).Session, worker);
    }

    [Fact]
    public async Task Execute_OtherVersion_GetsItsOwnWorker()
    {
        var first = _harness.DeployPython(ReturnsPid);
        var second = ExecutorHarness.Deploy(_harness.Python, ReturnsPid, functionId: first.FunctionId, version: 2);

        var one = await _harness.InvokeAsync(first);
        var two = await _harness.InvokeAsync(second);

        Assert.NotEqual(one.Output, two.Output);
        Assert.Equal(2, _harness.Executor.GetWorkerProcessIds(first.FunctionId).Count);
    }

    [Fact]
    public async Task Execute_ConcurrentInvocations_StartOneWorkerEach()
    {
        var version = ExecutorHarness.Deploy(_harness.Python, """
            import os, time

            def handler(event):
                open(os.path.join(event["dir"], str(os.getpid())), "w").close()
                deadline = time.time() + 90
                while len(os.listdir(event["dir"])) < event["n"]:
                    if time.time() > deadline:
                        raise TimeoutError("the other invocations never ran at the same time")
                    time.sleep(0.01)
                return os.getpid()
            """, timeoutSecs: 120);
        var eventJson = JsonSerializer.Serialize(new { dir = _scratch, n = 3 });

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => _harness.InvokeAsync(version, eventJson)));

        Assert.All(outcomes, o => Assert.Equal(ExecutionStatus.Success, o.Status));
        Assert.Equal(3, outcomes.Select(o => o.Output).Distinct().Count());
        Assert.Equal(3, _harness.Executor.GetWorkerProcessIds(version.FunctionId).Count);
    }

    [Fact]
    public async Task Execute_ManyConcurrentInvocationsOfSeveralFunctions_AllSucceed()
    {
        var python = _harness.DeployPython("def handler(event):\n    return event['i'] * 2\n");
        var node = _harness.DeployNode("exports.handler = async (event) => event.i * 2;\n");

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 24).Select(i =>
            _harness.InvokeAsync(i % 2 == 0 ? python : node, $$"""{"i": {{i}}}""")));

        Assert.Equal(Enumerable.Range(0, 24).Select(i => (i * 2).ToString()), outcomes.Select(o => o.Output));
    }

    [Fact]
    public async Task Execute_IdlePastTheKeepAlive_StopsTheWorker()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new ExecutorHarness(time, o => o.WorkerKeepAlive = TimeSpan.FromMinutes(5));
        var version = harness.DeployPython(ReturnsPid);

        var pid = int.Parse((await harness.InvokeAsync(version)).Output!);
        time.Advance(TimeSpan.FromMinutes(4));
        var reused = int.Parse((await harness.InvokeAsync(version)).Output!);
        time.Advance(TimeSpan.FromMinutes(4));
        var aliveBeforeKeepAlive = ProcessTree.IsRunning(pid);
        time.Advance(TimeSpan.FromMinutes(1.5));
        await ExecutorHarness.WaitUntilGoneAsync(pid);
        var replacement = int.Parse((await harness.InvokeAsync(version)).Output!);

        Assert.Equal(pid, reused);
        Assert.True(aliveBeforeKeepAlive);
        Assert.NotEqual(pid, replacement);
    }

    [Fact]
    public async Task Execute_MoreIdleWorkersThanMaxIdleWorkers_StopsTheLeastRecentlyUsed()
    {
        await using var harness = new ExecutorHarness(configure: options => options.MaxIdleWorkers = 2);
        var first = harness.DeployPython(ReturnsPid);
        var second = harness.DeployPython(ReturnsPid);
        var third = harness.DeployPython(ReturnsPid);
        var firstPid = int.Parse((await harness.InvokeAsync(first)).Output!);
        var secondPid = int.Parse((await harness.InvokeAsync(second)).Output!);

        // The first becomes the most recently used again, so the second is the one idle longest when the third ends.
        Assert.Equal(firstPid, int.Parse((await harness.InvokeAsync(first)).Output!));
        var thirdPid = int.Parse((await harness.InvokeAsync(third)).Output!);

        await ExecutorHarness.WaitUntilGoneAsync(secondPid);
        await ExecutorHarness.WaitUntilAsync(
            () => harness.Executor.GetWorkerProcessIds(second.FunctionId).Count == 0,
            "the executor let go of the stopped worker");
        Assert.Equal([firstPid], harness.Executor.GetWorkerProcessIds(first.FunctionId));
        Assert.Equal([thirdPid], harness.Executor.GetWorkerProcessIds(third.FunctionId));
        Assert.True(ProcessTree.IsRunning(firstPid) && ProcessTree.IsRunning(thirdPid));

        var again = await harness.InvokeAsync(second);
        Assert.NotEqual(secondPid, int.Parse(again.Output!));
    }

    [Fact]
    public async Task Execute_MaxIdleWorkersZero_StopsEachWorkerOnceItsInvocationEnds()
    {
        await using var harness = new ExecutorHarness(configure: options => options.MaxIdleWorkers = 0);
        var version = harness.DeployPython(ReturnsPid);

        var result = await harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, result.Status);
        await ExecutorHarness.WaitUntilGoneAsync(int.Parse(result.Output!));
    }

    [Fact]
    public async Task Retire_IdleWorkers_StopsThemAndTheNextInvocationStartsAnother()
    {
        var version = _harness.DeployPython(ReturnsPid);
        var pid = int.Parse((await _harness.InvokeAsync(version)).Output!);

        await _harness.Executor.RetireAsync(version.FunctionId);

        Assert.False(ProcessTree.IsRunning(pid));
        Assert.Empty(_harness.Executor.GetWorkerProcessIds(version.FunctionId));
        var next = await _harness.InvokeAsync(version);
        Assert.Equal(ExecutionStatus.Success, next.Status);
        Assert.NotEqual(pid, int.Parse(next.Output!));
    }

    [Fact]
    public async Task Retire_BusyWorker_LetsItFinishThenStopsIt()
    {
        var version = _harness.DeployPython(WaitsForFile);
        var started = Path.Combine(_scratch, "started");
        var release = Path.Combine(_scratch, "release");
        var running = _harness.InvokeAsync(version, JsonSerializer.Serialize(new { started, release }));
        await ExecutorHarness.WaitUntilAsync(() => File.Exists(started), "the invocation started");
        var pid = int.Parse(File.ReadAllText(started));

        await _harness.Executor.RetireAsync(version.FunctionId);
        var aliveWhileBusy = ProcessTree.IsRunning(pid);
        File.WriteAllText(release, "go");
        var outcome = await running;

        Assert.True(aliveWhileBusy);
        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        await ExecutorHarness.WaitUntilGoneAsync(pid);
    }

    [Fact]
    public async Task Dispose_IdleAndBusyWorkers_LeavesNoProcessBehind()
    {
        var idle = _harness.DeployPython(ReturnsPid);
        var idlePid = int.Parse((await _harness.InvokeAsync(idle)).Output!);
        var busy = _harness.DeployNode("""
            const { spawn } = require("child_process");
            const fs = require("fs");
            exports.handler = async (event) => {
              const child = spawn("sleep", ["600"], { detached: true, stdio: "ignore" });
              fs.writeFileSync(event.started, `${process.pid} ${child.pid}`);
              return new Promise(() => {});
            };
            """);
        var started = Path.Combine(_scratch, "started");
        var running = _harness.InvokeAsync(busy, JsonSerializer.Serialize(new { started }));
        await ExecutorHarness.WaitUntilAsync(() => File.Exists(started), "the busy invocation started");
        var pids = File.ReadAllText(started).Split(' ').Select(int.Parse).ToArray();

        await _harness.Executor.DisposeAsync();
        var outcome = await running;

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.Contains("shut down", outcome.Error);
        foreach (var pid in pids.Append(idlePid))
        {
            await ExecutorHarness.WaitUntilGoneAsync(pid);
        }

        await Assert.ThrowsAsync<ObjectDisposedException>(() => _harness.InvokeAsync(idle));
    }

    [Fact]
    public async Task HostStop_ThroughTheServiceCollection_StopsEveryWorker()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        // Without a sandbox the pid a function reports is its host pid, which the test looks for afterwards.
        services.AddCrabLambda(o =>
            {
                o.WorkDirectory = _scratch;
                o.Isolation = CrabLambda.Execution.Sandbox.IsolationMode.None;
            })
            .AddSqlite(Path.Combine(_scratch, "crablambda.db"));
        await using var provider = services.BuildServiceProvider();
        var executor = provider.GetRequiredService<IExecutor>();
        var python = provider.GetServices<IRuntime>().Single(r => r.Name == "python");
        var version = ExecutorHarness.Deploy(python, ReturnsPid);
        var request = new ExecutionRequest(Guid.CreateVersion7(), "hosted", version, python, "{}"u8.ToArray());
        var pid = int.Parse((await executor.ExecuteAsync(request, CancellationToken.None)).Output!);

        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StopAsync(CancellationToken.None);
        }

        Assert.IsType<ProcessExecutor>(executor);
        Assert.Equal(["node", "python", "rust"], provider.GetServices<IRuntime>().Select(r => r.Name).Order());
        Assert.False(ProcessTree.IsRunning(pid));
    }

    [Fact]
    public async Task HostStopping_ExecutionRunningPastTheShutdownGrace_IsStoppedAndRecordedAsAnError()
    {
        var time = new FakeTimeProvider();
        var logs = new RecordingLoggerProvider();
        await using var provider = await StartWithSleeperAsync(time, logs, maxConcurrentExecutions: 100);
        var client = provider.GetRequiredService<IFunctionClient>();
        var started = Path.Combine(_scratch, "started");
        var invocation = client.InvokeAsync("sleeper", JsonSerializer.SerializeToUtf8Bytes(new { started }));
        await ExecutorHarness.WaitUntilAsync(() => File.Exists(started), "the handler runs");
        var lifetime = provider.GetServices<IHostedService>().OfType<WorkerLifetimeService>().Single();

        await lifetime.StoppingAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(19));
        Assert.False(invocation.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        var result = await invocation;
        await lifetime.StopAsync(CancellationToken.None);

        Assert.Equal(ExecutionStatus.Error, result.Status);
        Assert.Equal("The execution was stopped because the server shut down.", result.Error);
        var stored = await client.GetExecutionAsync(result.ExecutionId);
        Assert.Equal((ExecutionStatus.Error, result.Error), (stored.Status, stored.Error));
        var waiting = Assert.Single(logs.Records, r => r.EventId.Id == 1115);
        Assert.Contains("1 executions still running and 0 waiting for a slot get up to 20 s", waiting.Message);
        Assert.Single(logs.Records, r => r.EventId.Id == 1116 && r.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task HostStopping_InvocationWaitingForASlot_IsLoggedAsWaitingNotRunning()
    {
        var time = new FakeTimeProvider();
        var logs = new RecordingLoggerProvider();
        await using var provider = await StartWithSleeperAsync(time, logs, maxConcurrentExecutions: 1);
        var client = provider.GetRequiredService<IFunctionClient>();
        var started = Path.Combine(_scratch, "started");
        var eventJson = JsonSerializer.SerializeToUtf8Bytes(new { started });
        var running = client.InvokeAsync("sleeper", eventJson);
        await ExecutorHarness.WaitUntilAsync(() => File.Exists(started), "the first handler runs");
        var queued = client.InvokeAsync("sleeper", eventJson);
        var limiter = provider.GetRequiredService<ExecutionLimiter>();
        await ExecutorHarness.WaitUntilAsync(() => limiter.Queued == 1, "the second invocation waits for the slot");
        var lifetime = provider.GetServices<IHostedService>().OfType<WorkerLifetimeService>().Single();

        await lifetime.StoppingAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(20));
        var stopped = await running;
        await Assert.ThrowsAsync<ServerStoppingException>(() => queued);
        await lifetime.StopAsync(CancellationToken.None);

        Assert.Equal("The execution was stopped because the server shut down.", stopped.Error);
        var waiting = Assert.Single(logs.Records, r => r.EventId.Id == 1115);
        Assert.Contains("1 executions still running and 1 waiting for a slot get up to 20 s", waiting.Message);
        var stopping = Assert.Single(logs.Records, r => r.EventId.Id == 1116);
        Assert.Contains("stopping 1 executions still running after 20 s", stopping.Message);
        Assert.Contains("1 still waiting for a slot are answered 503", stopping.Message);
    }

    [Fact]
    public async Task RemoveLeftoverFolders_FoldersOfExecutorsThatAreGone_AreRemovedAndLiveOnesKept()
    {
        var work = _harness.WorkDirectory;
        var options = Microsoft.Extensions.Options.Options.Create(new CrabLambdaOptions { WorkDirectory = work });
        await using var live = new ProcessExecutor(
            options,
            new SessionWorkerLauncher(),
            TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<ProcessExecutor>.Instance);
        var version = _harness.DeployPython(ReturnsPid);
        var request = new ExecutionRequest(Guid.CreateVersion7(), "live", version, _harness.Python, "{}"u8.ToArray());
        Assert.Equal(ExecutionStatus.Success, (await live.ExecuteAsync(request, CancellationToken.None)).Status);
        var liveFolders = Directory.GetDirectories(work, "executor-*");

        // Left by an executor that was killed: its folder with code, and its lock file, which nobody holds now.
        var gone = Path.Combine(work, "executor-0badc0de");
        Directory.CreateDirectory(Path.Combine(gone, "code", "f-1"));
        var goneSockets = Directory.CreateTempSubdirectory("crablambda-").FullName;
        File.WriteAllText(gone + ".lock", $"12345\n{goneSockets}\n");
        var orphanLock = Path.Combine(work, "executor-0fa0fa00.lock");
        File.WriteAllText(orphanLock, "");

        // Made before executors held locks: its owner might still run.
        var older = Directory.CreateDirectory(Path.Combine(work, "executor-01de0001")).FullName;

        var removed = _harness.Executor.RemoveLeftoverFolders();

        Assert.Equal(["executor-0badc0de"], removed);
        Assert.False(Directory.Exists(gone));
        Assert.False(File.Exists(gone + ".lock"));
        Assert.False(Directory.Exists(goneSockets));
        Assert.False(File.Exists(orphanLock));
        Assert.True(Directory.Exists(older));
        Assert.All(liveFolders, folder => Assert.True(Directory.Exists(folder)));
        Assert.All(liveFolders, folder => Assert.True(File.Exists(folder + ".lock")));
        Assert.Equal(ExecutionStatus.Success, (await live.ExecuteAsync(request, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task Execute_WorkerEnvironment_HoldsNothingOfTheServers()
    {
        // A variable of its own stands for DATABASE_URL and API_KEY, which other tests of this process read: the
        // worker's environment must be exactly the four variables the executor sets.
        Environment.SetEnvironmentVariable("CRABLAMBDA_TEST_SERVER_SECRET", "do-not-leak");
        var python = _harness.DeployPython("import os\n\ndef handler(event):\n    return dict(os.environ)\n");
        var node = _harness.DeployNode("exports.handler = () => process.env;\n");

        foreach (var version in new[] { python, node })
        {
            var outcome = await _harness.InvokeAsync(version);

            var environment = JsonSerializer.Deserialize<Dictionary<string, string>>(outcome.Output!)!;
            Assert.Equal(["HOME", "LANG", "PATH", "TMPDIR"], environment.Keys.Order());
            Assert.Equal("C.UTF-8", environment["LANG"]);
            Assert.Equal(environment["HOME"], environment["TMPDIR"]);
            Assert.StartsWith(_harness.WorkDirectory, environment["HOME"]);
            Assert.DoesNotContain("do-not-leak", outcome.Output);
        }
    }

    [Fact]
    public async Task Execute_FunctionReadsStdin_GetsEndOfFile()
    {
        var python = _harness.DeployPython("import sys\n\ndef handler(event):\n    return sys.stdin.read()\n");
        var node = _harness.DeployNode("exports.handler = () => require('fs').readFileSync(0, 'utf8');\n");

        var fromPython = await _harness.InvokeAsync(python);
        var fromNode = await _harness.InvokeAsync(node);

        Assert.Equal("\"\"", fromPython.Output);
        Assert.Equal("\"\"", fromNode.Output);
    }

    [Fact]
    public async Task Execute_PythonModule_LeavesNoBytecodeBehind()
    {
        var version = _harness.DeployPython("import json\n\ndef handler(event):\n    return json.dumps(event)\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Empty(Directory.GetDirectories(_harness.WorkDirectory, "__pycache__", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(_harness.WorkDirectory, "*.pyc", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Execute_PythonTimeout_KillsEveryProcessTheFunctionStarted()
    {
        var version = ExecutorHarness.Deploy(_harness.Python, """
            import subprocess, time

            def handler(event):
                same_group = subprocess.Popen(["sleep", "600"])
                own_session = subprocess.Popen(["sleep", "600"], start_new_session=True)
                print(same_group.pid, own_session.pid, flush=True)
                time.sleep(600)
            """, timeoutSecs: 2);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Timeout, outcome.Status);
        var pids = ExecutorHarness.Lines(outcome, "info").Single().Split(' ').Select(int.Parse);
        foreach (var pid in pids)
        {
            await ExecutorHarness.WaitUntilGoneAsync(pid);
        }
    }

    [Fact]
    public async Task Execute_NodeTimeout_KillsEveryProcessTheFunctionStarted()
    {
        var version = ExecutorHarness.Deploy(_harness.Node, """
            const { spawn } = require("child_process");
            exports.handler = () => {
              const attached = spawn("sleep", ["600"]);
              const detached = spawn("sleep", ["600"], { detached: true, stdio: "ignore" });
              console.log(`${attached.pid} ${detached.pid}`);
              return new Promise(() => {});
            };
            """, timeoutSecs: 2);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Timeout, outcome.Status);
        var pids = ExecutorHarness.Lines(outcome, "info").Single().Split(' ').Select(int.Parse);
        foreach (var pid in pids)
        {
            await ExecutorHarness.WaitUntilGoneAsync(pid);
        }
    }

    [Fact]
    public async Task Execute_FloodsWideLinesAndUnfinishedLines_KeepEachInvocationsLinesApart()
    {
        var version = _harness.DeployPython("""
            import os, sys

            def handler(event):
                mode = event.get("mode")
                if mode == "flood":
                    line = "x" * 199 + "\n"
                    for _ in range(100_000):
                        sys.stdout.write(line)
                elif mode == "partial":
                    sys.stdout.write("no newline at the end")
                elif mode == "wide":
                    sys.stdout.write("w" * 1_000_000 + "\n")
                    print("after the wide line")
                else:
                    print("quiet")
                return os.getpid()
            """);

        var flood = await _harness.InvokeAsync(version, """{"mode": "flood"}""");
        var afterFlood = await _harness.InvokeAsync(version);
        var partial = await _harness.InvokeAsync(version, """{"mode": "partial"}""");
        var afterPartial = await _harness.InvokeAsync(version);
        var wide = await _harness.InvokeAsync(version, """{"mode": "wide"}""");
        var afterWide = await _harness.InvokeAsync(version);

        var floodLines = ExecutorHarness.Lines(flood, "info");
        Assert.Equal(new string('x', 199), floodLines[0]);
        Assert.StartsWith("[log truncated at 1024 KiB: ", floodLines[^1]);
        Assert.InRange(floodLines.Sum(l => l.Length), 1000 * 1024, 1025 * 1024);
        Assert.Equal(["quiet"], ExecutorHarness.Lines(afterFlood, "info"));
        Assert.Equal(["no newline at the end"], ExecutorHarness.Lines(partial, "info"));
        Assert.Equal(["quiet"], ExecutorHarness.Lines(afterPartial, "info"));
        var wideLines = ExecutorHarness.Lines(wide, "info");
        Assert.Equal(2, wideLines.Length);
        Assert.Equal(new string('w', 16 * 1024) + " [line truncated: 1000000 bytes in all]", wideLines[0]);
        Assert.Equal("after the wide line", wideLines[1]);
        Assert.Equal(["quiet"], ExecutorHarness.Lines(afterWide, "info"));
        var all = new[] { flood, afterFlood, partial, afterPartial, wide, afterWide };
        Assert.Single(all.Select(o => o.Output).Distinct());
    }

    [Theory]
    [InlineData("\\n", 0)]
    [InlineData("x\\n", 1)]
    public async Task Execute_TwoMillionShortLines_KeepsTheLineCapAndOneNoteAndTheNextInvocationWorks(
        string line,
        int lineBytes)
    {
        var version = _harness.DeployPython($$"""
            import sys

            def handler(event):
                if event.get("flood"):
                    sys.stdout.write("{{line}}" * 2_000_000)
                    sys.stderr.write("{{line}}" * 2_000_000)
                print("quiet")
                return "done"
            """);

        var flood = await _harness.InvokeAsync(version, """{"flood": true}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal("\"done\"", flood.Output);
        Assert.Equal(10_001, flood.Logs.Count);
        var note = flood.Logs[^1].Message;
        Assert.Equal(
            $"[log truncated at 10000 lines: 3990001 lines more dropped, {3_990_000 * lineBytes + 5} bytes of text]",
            note);
        Assert.Equal("\"done\"", next.Output);
        Assert.Equal(["quiet"], ExecutorHarness.Lines(next, "info"));
    }

    [Fact]
    public async Task Execute_FunctionPrintsAnEarlierMarker_ItIsAnOrdinaryLine()
    {
        // The handler finds the worker's marker for its invocation on the call stack and prints it the next time.
        var version = _harness.DeployPython("""
            import sys
            previous = None

            def handler(event):
                global previous
                frame = sys._getframe(1)
                current = None
                while frame is not None:
                    if "marker" in frame.f_locals:
                        current = frame.f_locals["marker"]
                        break
                    frame = frame.f_back
                if previous is not None:
                    sys.stdout.write(previous.decode("ascii"))
                    sys.stderr.write(previous.decode("ascii"))
                print("after the old marker")
                previous = current
                return current is not None
            """);

        var first = await _harness.InvokeAsync(version);
        var second = await _harness.InvokeAsync(version);
        var third = await _harness.InvokeAsync(version);

        Assert.Equal("true", first.Output);
        Assert.Equal(["after the old marker"], ExecutorHarness.Lines(first, "info"));
        foreach (var outcome in new[] { second, third })
        {
            var info = ExecutorHarness.Lines(outcome, "info");
            Assert.Equal(3, info.Length);
            Assert.Equal(string.Empty, info[0]);
            Assert.StartsWith("crablambda-end-", info[1]);
            Assert.Equal("after the old marker", info[2]);
            Assert.Equal(info[..2], ExecutorHarness.Lines(outcome, "error"));
        }

        Assert.NotEqual(ExecutorHarness.Lines(second, "info")[1], ExecutorHarness.Lines(third, "info")[1]);
    }

    [Fact]
    public async Task Execute_FunctionClosesStdout_FinishesAndTheNextInvocationWorks()
    {
        var version = _harness.DeployPython("""
            import os

            def handler(event):
                if event.get("close"):
                    print("before closing")
                    os.close(1)
                    return "closed"
                print("fine")
                return "fine"
            """);

        var closed = await _harness.InvokeAsync(version, """{"close": true}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, closed.Status);
        Assert.Equal(["before closing"], ExecutorHarness.Lines(closed, "info"));
        Assert.Equal(ExecutionStatus.Success, next.Status);
        Assert.Equal(["fine"], ExecutorHarness.Lines(next, "info"));
    }

    [Fact]
    public async Task Execute_MarkerNeverArrives_FinishesAfterTheGraceWithAFreshWorkerNext()
    {
        // A child keeps the stdout pipe open while the worker's own stdout points elsewhere: neither the marker nor
        // the end of the stream ever comes.
        var version = _harness.DeployPython("""
            import os, subprocess

            def handler(event):
                if event.get("hide"):
                    child = subprocess.Popen(["sleep", "600"])
                    print(child.pid)
                    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
                    return "hidden"
                print("fine")
                return os.getpid()
            """);

        var hidden = await _harness.InvokeAsync(version, """{"hide": true}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, hidden.Status);
        Assert.Equal("\"hidden\"", hidden.Output);
        var child = int.Parse(ExecutorHarness.Lines(hidden, "info").Single());
        await ExecutorHarness.WaitUntilGoneAsync(child);
        Assert.Equal(ExecutionStatus.Success, next.Status);
        Assert.Equal(["fine"], ExecutorHarness.Lines(next, "info"));
    }

    [Fact]
    public async Task Execute_OutputOverTheLimit_IsAnErrorNamingTheLimit()
    {
        await using var harness = new ExecutorHarness(configure: o => o.MaxOutputMb = 1);
        var version = harness.DeployPython(
            "import os\n\ndef handler(event):\n    return [os.getpid(), 'x' * event['n']]\n");

        var tooLarge = await harness.InvokeAsync(version, """{"n": 1500000}""");
        var reused = await harness.InvokeAsync(version, """{"n": 1}""");
        var farTooLarge = await harness.InvokeAsync(version, """{"n": 5000000}""");
        var replaced = await harness.InvokeAsync(version, """{"n": 1}""");

        Assert.Equal(ExecutionStatus.Error, tooLarge.Status);
        Assert.Contains("larger than the limit of 1 MiB (MaxOutputMb)", tooLarge.Error);
        Assert.Equal(ExecutionStatus.Success, reused.Status);
        Assert.Equal(ExecutionStatus.Error, farTooLarge.Status);
        Assert.Contains("larger than the limit of 1 MiB (MaxOutputMb)", farTooLarge.Error);
        Assert.Equal(ExecutionStatus.Success, replaced.Status);
        Assert.NotEqual(Pid(reused), Pid(replaced));

        static int Pid(ExecutionOutcome outcome) => JsonDocument.Parse(outcome.Output!).RootElement[0].GetInt32();
    }

    [Fact]
    public async Task Execute_Cancelled_ThrowsAndStopsTheWorker()
    {
        var version = _harness.DeployPython(WaitsForFile);
        var started = Path.Combine(_scratch, "started");
        using var cancellation = new CancellationTokenSource();
        var eventJson = JsonSerializer.Serialize(new { started, release = Path.Combine(_scratch, "never") });
        var running = _harness.InvokeAsync(version, eventJson, cancellation.Token);
        await ExecutorHarness.WaitUntilAsync(() => File.Exists(started), "the invocation started");
        var pid = int.Parse(File.ReadAllText(started));

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        await ExecutorHarness.WaitUntilGoneAsync(pid);
    }

    [Fact]
    public async Task Execute_EventThatIsNotJson_Throws()
    {
        var version = _harness.DeployPython(ReturnsPid);

        await Assert.ThrowsAsync<ArgumentException>(() => _harness.InvokeAsync(version, "{not json"));
    }

    [Fact]
    public async Task Execute_WorkDirectoryTooDeepForASocketPath_StillWorks()
    {
        var deep = Path.Combine(_scratch, new string('d', 100), new string('e', 50));
        await using var harness = new ExecutorHarness(configure: o => o.WorkDirectory = deep);
        var version = harness.DeployPython(ReturnsPid);

        var outcome = await harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
    }

    private const string WaitsForFile = """
        import os, time

        def handler(event):
            with open(event["started"] + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(event["started"] + ".tmp", event["started"])
            while not os.path.exists(event["release"]):
                time.sleep(0.01)
            return "released"
        """;

    /// <summary>
    /// An engine on SQLite with a 20 s shutdown grace and a Python function, sleeper, that marks the file its event
    /// names once it runs and then sleeps for ten minutes.
    /// </summary>
    private async Task<ServiceProvider> StartWithSleeperAsync(
        FakeTimeProvider time,
        RecordingLoggerProvider logs,
        int maxConcurrentExecutions)
    {
        var services = new ServiceCollection();
        services.AddLogging(builder => builder.AddProvider(logs));
        services.AddSingleton<TimeProvider>(time);
        services.AddCrabLambda(o =>
            {
                o.WorkDirectory = _scratch;
                o.Isolation = IsolationMode.None;
                o.ShutdownGrace = TimeSpan.FromSeconds(20);
                o.MaxConcurrentExecutions = maxConcurrentExecutions;
            })
            .AddSqlite(Path.Combine(_scratch, "crablambda.db"));
        var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<StoreInitializer>().StartAsync(CancellationToken.None);
        var code = "import time\n\ndef handler(event):\n    open(event['started'], 'w').close()\n    time.sleep(600)\n";
        await provider.GetRequiredService<IFunctionClient>()
            .CreateAsync(new FunctionDefinition("sleeper", "python", code, "handler", TimeoutSecs: 300));
        return provider;
    }
}
