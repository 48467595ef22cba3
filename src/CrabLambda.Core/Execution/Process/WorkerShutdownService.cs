using Microsoft.Extensions.Hosting;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Stops every worker process when the host stops, so that none outlives the server.
/// </summary>
internal sealed class WorkerShutdownService(IExecutor executor) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) =>
        executor is ProcessExecutor processExecutor ? processExecutor.ShutdownAsync() : Task.CompletedTask;
}
