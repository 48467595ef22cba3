using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CrabLambda.Functions;

/// <summary>
/// Gives deploys that are still being prepared when the host begins to stop (a Rust compile, say) the same
/// <see cref="CrabLambdaOptions.ShutdownGrace"/> as running executions, and then ends them, so that each one is
/// answered before the web server drops its connection, and none is stored after its caller was told it failed.
/// </summary>
internal sealed class DeployShutdown(IOptions<CrabLambdaOptions> options, TimeProvider timeProvider)
    : IHostedLifecycleService, IDisposable
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _graceEnded = new();
    private ITimer? _grace;
    private bool _disposed;

    /// <summary>Cancelled once the host has been stopping for the shutdown grace.</summary>
    public CancellationToken GraceEnded => _graceEnded.Token;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _grace ??= timeProvider.CreateTimer(
                    static state => ((DeployShutdown)state!).EndGrace(),
                    this,
                    options.Value.ShutdownGrace,
                    Timeout.InfiniteTimeSpan);
            }
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _grace?.Dispose();
        }

        _graceEnded.Dispose();
    }

    private void EndGrace()
    {
        try
        {
            _graceEnded.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The host was disposed meanwhile, and with it everything that could have waited.
        }
    }
}
