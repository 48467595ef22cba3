using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Rust;
using CrabLambda.Tests.Execution.Process;
using CrabLambda.Tests.Runtimes.Rust;

namespace CrabLambda.Tests.Runtimes;

/// <summary>
/// The Python and Node.js worker programs started without a function, as the executor's pre-started workers are,
/// driven over the worker protocol by hand: they connect, wait for a <c>load</c> message and then behave exactly as
/// a worker started for its function does.
/// </summary>
public sealed class GenericWorkerTests : IAsyncLifetime
{
    private ExecutorHarness _harness = null!;
    private string _codeDirectory = null!;

    public Task InitializeAsync()
    {
        _harness = new ExecutorHarness();
        _codeDirectory = Directory.CreateDirectory(Path.Combine(_harness.WorkDirectory, "task")).FullName;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    [Theory]
    [InlineData("python")]
    [InlineData("node")]
    public async Task Load_ThenInvoke_ServesTheFunctionWithItsLoadTimeOutput(string runtimeName)
    {
        var code = runtimeName == "python"
            ? "print('loading')\ndef handler(event, context):\n    print('hi', event['n'])\n    return event['n'] * 2\n"
            : "console.log('loading');\n"
                + "exports.handler = async (event) => { console.log('hi', event.n); return event.n * 2; };";
        var runtime = Runtime(runtimeName);
        var version = Version(runtime, code);
        await using var worker = await WorkerHarness.StartAsync(
            await runtime.GetGenericLaunchAsync(CancellationToken.None),
            generic: true);
        var load = await runtime.GetLoadAsync(version, _codeDirectory, CancellationToken.None);

        await worker.LoadAsync(load.CodePath, load.Handler);
        var reply = await worker.InvokeAsync("""{"n":21}""");

        Assert.Equal("ready", (string?)worker.Hello["type"]);
        Assert.True(reply.Ok, reply.Error);
        Assert.Equal("42", reply.OutputJson);
        Assert.Equal(["loading", "hi 21"], reply.Stdout);
        Assert.Equal(Path.Combine(_codeDirectory, Path.GetFileName(load.CodePath)), load.CodePath);
    }

    [Theory]
    [InlineData("python", "def handler(event:\n    return 1\n", "SyntaxError")]
    [InlineData("node", "exports.handler = async (event => 1;", "SyntaxError")]
    [InlineData("python", "def other(event):\n    return 1\n", "no top-level function named 'handler'")]
    [InlineData("node", "exports.other = async () => 1;", "no function named 'handler'")]
    public async Task Load_CodeThatCannotLoad_AnswersTheErrorAndExits(string runtimeName, string code, string error)
    {
        var runtime = Runtime(runtimeName);
        var version = Version(runtime, code);
        await using var worker = await WorkerHarness.StartAsync(
            await runtime.GetGenericLaunchAsync(CancellationToken.None),
            generic: true);
        var load = await runtime.GetLoadAsync(version, _codeDirectory, CancellationToken.None);

        await worker.LoadAsync(load.CodePath, load.Handler);

        Assert.Equal("error", (string?)worker.Hello["type"]);
        Assert.Contains(error, (string?)worker.Hello["error"]);
        Assert.Equal(1, await worker.CloseAsync());
    }

    [Theory]
    [InlineData("python")]
    [InlineData("node")]
    public async Task FirstMessage_NotALoad_AnswersAnErrorAndExits(string runtimeName)
    {
        var runtime = Runtime(runtimeName);
        await using var worker = await WorkerHarness.StartAsync(
            await runtime.GetGenericLaunchAsync(CancellationToken.None),
            generic: true);

        await worker.SendFirstAsync(new JsonObject { ["type"] = "invoke", ["id"] = "x" });

        Assert.Equal("error", (string?)worker.Hello["type"]);
        Assert.Contains("expected a load message", (string?)worker.Hello["error"]);
        Assert.Equal(1, await worker.CloseAsync());
    }

    [Theory]
    [InlineData("python")]
    [InlineData("node")]
    public async Task Close_BeforeAnyLoad_EndsTheWorkerWithZero(string runtimeName)
    {
        var runtime = Runtime(runtimeName);
        await using var worker = await WorkerHarness.StartAsync(
            await runtime.GetGenericLaunchAsync(CancellationToken.None),
            generic: true);

        Assert.Equal(0, await worker.CloseAsync());
    }

    [Fact]
    public void SupportsGenericWorkers_IsTrueForInterpretersAndFalseForRust()
    {
        var options = new RustRuntimeOptions
        {
            CacheDirectory = Path.Combine(_harness.WorkDirectory, "rust"),
            WarmUpOnStart = false,
        };
        using var compiler = RustRuntimeFixture.NewCompiler(options);
        IRuntime rust = new RustRuntime(compiler);

        Assert.True(((IRuntime)_harness.Python).SupportsGenericWorkers);
        Assert.True(((IRuntime)_harness.Node).SupportsGenericWorkers);
        Assert.False(rust.SupportsGenericWorkers);
    }

    private IRuntime Runtime(string name) => name == "python" ? _harness.Python : _harness.Node;

    private static FunctionVersion Version(IRuntime runtime, string code) =>
        new(
            Guid.NewGuid(),
            1,
            code,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code))),
            runtime.Name,
            "handler",
            128,
            30,
            Network: false,
            DateTimeOffset.UtcNow);
}
