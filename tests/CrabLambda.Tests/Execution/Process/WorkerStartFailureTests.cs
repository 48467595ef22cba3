using CrabLambda.Execution;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Functions;
using CrabLambda.Runtimes;

namespace CrabLambda.Tests.Execution.Process;

/// <summary>
/// Workers that end before they are ready, with real processes: the invocation is answered as soon as the worker
/// has exited and its output has been read, with what the worker said.
/// </summary>
public sealed class WorkerStartFailureTests
{
    // The grace for output and the allowance for a start are both far longer than the test waits, so an answer that
    // came from waiting either out fails the test instead of passing late.
    private static readonly TimeSpan LongWait = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan TestWait = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData(IsolationMode.None)]
    [InlineData(IsolationMode.Sandbox)]
    public async Task Execute_WorkerExitsBeforeItConnects_IsAnErrorWithItsExitCodeAndOutputWithoutWaitingOutTheGrace(
        IsolationMode isolation)
    {
        await using var harness = new ExecutorHarness(isolation: isolation);
        harness.Executor.OutputGrace = LongWait;
        harness.Executor.StartAllowance = LongWait;
        var runtime = new ScriptRuntime("/bin/sh", "-c", "echo starting; echo broken >&2; exit 3");

        var outcome = await InvokeAsync(harness, runtime);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.Equal("The function exited with code 3 before it was ready.", outcome.Error);
        Assert.Equal(["starting"], ExecutorHarness.Lines(outcome, "info"));
        Assert.Equal(["broken"], ExecutorHarness.Lines(outcome, "error"));
    }

    [Fact]
    public async Task Execute_WorkerKilledBySignalBeforeItConnects_NamesTheSignal()
    {
        await using var harness = new ExecutorHarness();
        harness.Executor.OutputGrace = LongWait;
        harness.Executor.StartAllowance = LongWait;
        var runtime = new ScriptRuntime("/bin/sh", "-c", "kill -SEGV $$");

        var outcome = await InvokeAsync(harness, runtime);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.Equal("The function's worker was killed by signal 11 (SIGSEGV) before it was ready.", outcome.Error);
    }

    [Fact]
    public async Task Execute_WorkerSendsALoadErrorAndExitsAtOnce_TheErrorItSentIsTheInvocationsError()
    {
        // The worker's exit may be seen before its connection: what it sent must still be read.
        await using var harness = new ExecutorHarness();
        harness.Executor.OutputGrace = LongWait;
        harness.Executor.StartAllowance = LongWait;
        var runtime = new ScriptRuntime(
            "/usr/bin/env",
            "python3",
            "-c",
            """
            import json, os, socket, struct
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(os.environ["CRABLAMBDA_SOCKET"])
            body = json.dumps({"type": "error", "error": "no handler named 'main'", "trace": None}).encode()
            connection.sendall(struct.pack(">I", len(body)) + body)
            os._exit(4)
            """);

        for (var attempt = 0; attempt < 5; attempt++)
        {
            var outcome = await InvokeAsync(harness, runtime);

            Assert.Equal(ExecutionStatus.Error, outcome.Status);
            Assert.Equal("no handler named 'main'", outcome.Error);
        }
    }

    private static Task<ExecutionOutcome> InvokeAsync(ExecutorHarness harness, IRuntime runtime) =>
        InvokeAsync(harness, runtime, ExecutorHarness.Deploy(runtime, "unused"));

    private static async Task<ExecutionOutcome> InvokeAsync(
        ExecutorHarness harness,
        IRuntime runtime,
        FunctionVersion version)
    {
        var request = new ExecutionRequest(Guid.CreateVersion7(), "test-function", version, runtime, "{}"u8.ToArray());

        var invocation = harness.Executor.ExecuteAsync(request, CancellationToken.None);
        var first = await Task.WhenAny(invocation, Task.Delay(TestWait));

        Assert.True(first == invocation, $"no answer within {TestWait.TotalSeconds} s of a worker that had ended");
        return await invocation;
    }

    /// <summary>A plug-in runtime whose worker is a fixed command, whatever the function's code.</summary>
    private sealed class ScriptRuntime(string executable, params string[] arguments) : IRuntime
    {
        public string Name => "script";

        public IReadOnlyCollection<string> Aliases => [];

        public string? ValidateHandler(string handler) => null;

        public Task PrepareAsync(FunctionVersion version, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<WorkerLaunch> GetLaunchAsync(
            FunctionVersion version,
            string codeDirectory,
            CancellationToken cancellationToken) =>
            Task.FromResult(new WorkerLaunch(executable, arguments));
    }
}
