using System.Security.Cryptography;
using System.Text;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Node;
using CrabLambda.Runtimes.Python;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CrabLambda.Tests.Execution.Process;

/// <summary>
/// A <see cref="ProcessExecutor"/> with the real Python and Node.js runtimes over a temporary work directory, with
/// plain processes or, with <see cref="IsolationMode.Sandbox"/>, the host's full sandbox (the harness fails when the
/// host cannot give it). A missing python3 or node makes the tests that need it fail with the runtime's message.
/// </summary>
internal sealed class ExecutorHarness : IAsyncDisposable
{
    private readonly string _workDirectory;

    public ExecutorHarness(
        TimeProvider? timeProvider = null,
        Action<CrabLambdaOptions>? configure = null,
        ILogger<ProcessExecutor>? logger = null,
        IsolationMode isolation = IsolationMode.None)
    {
        _workDirectory = Directory.CreateTempSubdirectory("crablambda-tests-").FullName;
        TimeProvider = timeProvider ?? TimeProvider.System;
        Options = new CrabLambdaOptions { WorkDirectory = _workDirectory };
        configure?.Invoke(Options);

        var options = Microsoft.Extensions.Options.Options.Create(Options);
        Python = new PythonRuntime(
            options,
            Microsoft.Extensions.Options.Options.Create(new PythonRuntimeOptions()),
            TimeProvider.System,
            NullLogger<PythonRuntime>.Instance);
        Node = new NodeRuntime(
            options,
            Microsoft.Extensions.Options.Options.Create(new NodeRuntimeOptions()),
            TimeProvider.System,
            NullLogger<NodeRuntime>.Instance);
        IWorkerLauncher launcher = isolation == IsolationMode.None
            ? new SessionWorkerLauncher()
            : new SandboxWorkerLauncher(HostIsolation.Resolve(isolation), options);
        Executor = new ProcessExecutor(options, launcher, TimeProvider, logger ?? NullLogger<ProcessExecutor>.Instance);
    }

    public CrabLambdaOptions Options { get; }

    public TimeProvider TimeProvider { get; }

    public PythonRuntime Python { get; }

    public NodeRuntime Node { get; }

    public ProcessExecutor Executor { get; }

    public string WorkDirectory => _workDirectory;

    public static FunctionVersion Deploy(
        IRuntime runtime,
        string code,
        string handler = "handler",
        int timeoutSecs = 30,
        int memoryMb = 128,
        Guid? functionId = null,
        int version = 1,
        bool network = false) =>
        new(
            functionId ?? Guid.NewGuid(),
            version,
            code,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code))),
            runtime.Name,
            handler,
            memoryMb,
            timeoutSecs,
            network,
            DateTimeOffset.UtcNow);

    public FunctionVersion DeployPython(string code, string handler = "handler", int timeoutSecs = 30) =>
        Deploy(Python, code, handler, timeoutSecs);

    public FunctionVersion DeployNode(string code, string handler = "handler", int timeoutSecs = 30) =>
        Deploy(Node, code, handler, timeoutSecs);

    public Task<ExecutionOutcome> InvokeAsync(
        FunctionVersion version,
        string eventJson = "{}",
        CancellationToken cancellationToken = default) =>
        InvokeAsync(version, Guid.CreateVersion7(), eventJson, cancellationToken);

    public Task<ExecutionOutcome> InvokeAsync(
        FunctionVersion version,
        Guid executionId,
        string eventJson = "{}",
        CancellationToken cancellationToken = default)
    {
        IRuntime runtime = version.Runtime == Python.Name ? Python : Node;
        var request = new ExecutionRequest(
            executionId,
            "test-function",
            version,
            runtime,
            Encoding.UTF8.GetBytes(eventJson));
        return Executor.ExecuteAsync(request, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await Executor.DisposeAsync();
        try
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A test that failed may leave a file behind; the folder is in the temporary directory.
        }
    }

    /// <summary>Waits, generously, until a condition holds; fails the test if it never does.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Waits until a process is gone (or a zombie waiting to be reaped).</summary>
    public static Task WaitUntilGoneAsync(int pid) =>
        WaitUntilAsync(() => !ProcessTree.IsRunning(pid), $"process {pid} is gone");

    public static string[] Lines(ExecutionOutcome outcome, string level) =>
        outcome.Logs.Where(l => l.Level == level).Select(l => l.Message).ToArray();
}
