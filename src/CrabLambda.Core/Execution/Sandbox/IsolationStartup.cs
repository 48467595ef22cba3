using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Decides the host's isolation when the host starts, so that a sandbox that was required but is missing stops
/// start-up, and says exactly what is in force. Removes the control groups that servers which are gone left behind,
/// and this server's own when it stops, after its workers.
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

        if (resolved.Cgroups?.RemoveLeftovers() is { Folders.Count: > 0 } left)
        {
            LogLeftoversRemoved(left.Folders.Count, string.Join(", ", left.Folders), left.KilledProcesses);
        }

        return Task.CompletedTask;
    }

    // Stopped after the workers: the host stops its services in the reverse order of their registration.
    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (isolation.IsValueCreated)
        {
            isolation.Value.Cgroups?.Release();
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(1, LogLevel.Information, "Workers run with {Isolation}")]
    private partial void LogIsolation(string isolation);

    [LoggerMessage(2, LogLevel.Warning, "Workers run with {Isolation}")]
    private partial void LogWeakIsolation(string isolation);

    [LoggerMessage(
        3,
        LogLevel.Information,
        "Removed the control groups of {Count} servers that are gone: {Folders}; {Killed} processes still in them "
            + "were killed")]
    private partial void LogLeftoversRemoved(int count, string folders, int killed);
}
