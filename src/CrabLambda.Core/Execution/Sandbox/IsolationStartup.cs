using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Decides the host's isolation when the host starts, so that a sandbox that was required but is missing stops
/// start-up, and says exactly what is in force.
/// </summary>
internal sealed partial class IsolationStartup(Lazy<HostIsolation> isolation, ILogger<IsolationStartup> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var resolved = isolation.Value;
        if (resolved.Tools is not null && resolved.Cgroups is not null)
        {
            LogIsolation(resolved.Description);
        }
        else
        {
            LogWeakIsolation(resolved.Description);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1, LogLevel.Information, "Workers run with {Isolation}")]
    private partial void LogIsolation(string isolation);

    [LoggerMessage(2, LogLevel.Warning, "Workers run with {Isolation}")]
    private partial void LogWeakIsolation(string isolation);
}
