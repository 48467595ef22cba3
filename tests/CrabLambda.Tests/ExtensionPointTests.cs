using CrabLambda.Execution;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Rust;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Moq;

namespace CrabLambda.Tests;

/// <summary>
/// The extension points as the embedding guide tells a host to use them: an executor registered in place of the
/// built-in one, and a plug-in runtime added with one call.
/// </summary>
public sealed class ExtensionPointTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("crablambda-extension-").FullName;
    private readonly Mock<IExecutor> _executor = new(MockBehavior.Strict);
    private IHost? _host;

    private IFunctionClient Functions => _host!.Services.GetRequiredService<IFunctionClient>();

    public async Task InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services
            .AddCrabLambda(o => o.WorkDirectory = Path.Combine(_directory, "work"))
            .AddSqlite(Path.Combine(_directory, "functions.db"))
            .AddRuntime<EchoRuntime>();
        builder.Services.Replace(ServiceDescriptor.Singleton(_executor.Object));
        builder.Services.Configure<RustRuntimeOptions>(o => o.WarmUpOnStart = false);
        _host = builder.Build();
        await _host.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _host!.StopAsync();
        _host.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task ReplacedExecutor_RunsThePlugInRuntimesFunctions_AndItsOutcomeIsRecorded()
    {
        ExecutionRequest? seen = null;
        _executor
            .Setup(e => e.ExecuteAsync(It.IsAny<ExecutionRequest>(), It.IsAny<CancellationToken>()))
            .Callback<ExecutionRequest, CancellationToken>((request, _) => seen = request)
            .ReturnsAsync(new ExecutionOutcome(
                ExecutionStatus.Success,
                "\"echoed\"",
                null,
                1.5,
                2.0,
                [new LogEntry("info", "from the executor", DateTimeOffset.UtcNow)]));
        await Functions.CreateAsync(new FunctionDefinition("echo", "echo-alias", "code", "main"));

        var result = await Functions.InvokeAsync("echo", """{"a":1}"""u8.ToArray());

        Assert.Equal((ExecutionStatus.Success, "\"echoed\"", 2.0), (result.Status, result.Output, result.MemoryUsedMb));
        Assert.IsType<EchoRuntime>(seen!.Runtime);
        Assert.Equal("echo", seen.Version.Runtime);
        Assert.Equal("""{"a":1}""", System.Text.Encoding.UTF8.GetString(seen.Event.Span));
        var logs = await Functions.GetLogsAsync(result.ExecutionId);
        Assert.Equal("from the executor", Assert.Single(logs).Message);
    }

    [Fact]
    public async Task PlugInRuntime_RefusedHandlerOrCode_IsTheSameErrorAsForABuiltInOne_AndStoresNothing()
    {
        var handler = await Assert.ThrowsAsync<FunctionValidationException>(
            () => Functions.CreateAsync(new FunctionDefinition("echo-bad", "echo", "code", "Main")));
        var code = await Assert.ThrowsAsync<FunctionCodeException>(
            () => Functions.CreateAsync(new FunctionDefinition("echo-broken", "echo", "broken", "main")));

        Assert.Equal(["handler"], handler.Errors.Keys);
        Assert.Equal("The echo code is broken.", code.Message);
        Assert.Equal(0, (await Functions.ListAsync()).Total);
    }

    /// <summary>A runtime that only checks; the replaced executor runs its functions.</summary>
    private sealed class EchoRuntime : IRuntime
    {
        public string Name => "echo";

        public IReadOnlyCollection<string> Aliases => ["echo-alias"];

        public string? ValidateHandler(string handler) => handler == "main" ? null : "The handler must be 'main'.";

        public Task PrepareAsync(FunctionVersion version, CancellationToken cancellationToken) =>
            version.Code == "broken"
                ? Task.FromException(new FunctionCodeException("The echo code is broken."))
                : Task.CompletedTask;

        public Task<WorkerLaunch> GetLaunchAsync(
            FunctionVersion version,
            string codeDirectory,
            CancellationToken cancellationToken) =>
            throw new InvalidOperationException("The replaced executor starts no worker.");
    }
}
