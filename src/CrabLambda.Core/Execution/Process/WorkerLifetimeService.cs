using CrabLambda.Runtimes;
using Microsoft.Extensions.Hosting;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Starts the process executor's generic workers when the host starts, and stops every worker process when the host
/// stops, so that none outlives the server.
/// </summary>
internal sealed class WorkerLifetimeService(IExecutor executor, IEnumerable<IRuntime> runtimes) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // The workers start in the background: the host does not wait for an interpreter.
        if (executor is ProcessExecutor processExecutor)
        {
            processExecutor.StartGenericWorkers(runtimes);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) =>
        executor is ProcessExecutor processExecutor ? processExecutor.ShutdownAsync() : Task.CompletedTask;
}
