using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Builds the crates in the background at start-up, so that the first Rust deploy compiles in seconds rather than
/// waiting for serde. A missing toolchain is logged here, once, instead of surprising the first deploy.
/// </summary>
internal sealed partial class RustWarmUpService(
    RustCompiler compiler,
    IOptions<RustRuntimeOptions> options,
    TimeProvider timeProvider,
    ILogger<RustWarmUpService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.WarmUpOnStart)
        {
            return;
        }

        // Let the host finish starting before the compiler takes the CPU.
        await Task.Yield();

        var started = timeProvider.GetTimestamp();
        try
        {
            await compiler.WarmUpAsync(stoppingToken).ConfigureAwait(false);
            LogReady(timeProvider.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
        catch (Exception exception) when (exception is InvalidOperationException or FunctionCodeException
            or IOException or UnauthorizedAccessException)
        {
            LogUnavailable(exception.Message, exception);
        }
    }

    [LoggerMessage(310, LogLevel.Information, "Rust runtime ready: crates built in {ElapsedMs:0} ms")]
    private partial void LogReady(double elapsedMs);

    [LoggerMessage(311, LogLevel.Warning, "Rust runtime unavailable, Rust functions cannot be deployed: {Reason}")]
    private partial void LogUnavailable(string reason, Exception exception);
}
