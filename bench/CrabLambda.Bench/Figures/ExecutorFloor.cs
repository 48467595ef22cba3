using System.Security.Cryptography;
using System.Text;
using CrabLambda.Execution;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using Microsoft.Extensions.Logging.Abstractions;

namespace CrabLambda.Bench.Figures;

/// <summary>
/// The engine's process executor used directly, with no HTTP and no database: the floor of a warm invocation (one
/// small event through the worker protocol to a running worker) and the naive way of running functions (a new
/// worker process for every invocation, the same worker program, retired as soon as it answered).
/// </summary>
internal sealed class ExecutorFloor : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly IExecutor _executor;
    private readonly Dictionary<string, IRuntime> _runtimes;

    public ExecutorFloor(string workDirectory)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        // The naive way starts each worker for its function: no generic workers started ahead.
        services.AddCrabLambda(options =>
        {
            options.WorkDirectory = workDirectory;
            options.PrestartedWorkersPerRuntime = 0;
        });
        _services = services.BuildServiceProvider();
        _executor = _services.GetRequiredService<IExecutor>();
        _runtimes = _services.GetServices<IRuntime>().ToDictionary(runtime => runtime.Name, StringComparer.Ordinal);
    }

    /// <summary>
    /// Makes a version of the code as a deploy would (a Rust version is compiled here, or found built).
    /// </summary>
    public async Task<FunctionVersion> PrepareAsync(string runtime, string code)
    {
        var version = new FunctionVersion(
            Guid.CreateVersion7(),
            1,
            code,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code))),
            runtime,
            "handler",
            128,
            60,
            Network: false,
            DateTimeOffset.UtcNow);
        await _runtimes[runtime].PrepareAsync(version, CancellationToken.None);
        return version;
    }

    /// <summary>The same code as another function: a version of its own, so that it gets workers of its own.</summary>
    public static FunctionVersion Copy(FunctionVersion version) => version with { FunctionId = Guid.CreateVersion7() };

    /// <summary>Runs one invocation on a warm worker of the version (the first one starts it).</summary>
    public async Task<bool> InvokeAsync(FunctionVersion version, byte[] eventJson)
    {
        var request = new ExecutionRequest(
            Guid.CreateVersion7(),
            "bench-floor",
            version,
            _runtimes[version.Runtime],
            eventJson);
        var outcome = await _executor.ExecuteAsync(request, CancellationToken.None);
        return outcome.Status == ExecutionStatus.Success;
    }

    /// <summary>Runs one invocation in a new worker process and stops it afterwards.</summary>
    public async Task<bool> InvokeInNewProcessAsync(FunctionVersion version, byte[] eventJson)
    {
        try
        {
            return await InvokeAsync(version, eventJson);
        }
        finally
        {
            await _executor.RetireAsync(version.FunctionId);
        }
    }

    public async ValueTask DisposeAsync() => await _services.DisposeAsync();
}
