using CrabLambda.Runtimes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Starts the process executor's generic workers when the host starts, after removing the work folders that servers
/// which are gone left behind, and stops every worker process when the host stops, so that none outlives the server.
/// </summary>
/// <remarks>
/// When the host begins to stop, executions still running get <see cref="CrabLambdaOptions.ShutdownGrace"/> to
/// finish while the web server waits for their requests. Those still running then are stopped: each ends as an
/// <c>error</c> saying the server shut down, is recorded, and is answered if its caller still waits. The host stops
/// this service after the web server, and it waits until the executions it stopped are recorded, so that none is
/// lost when the store closes.
/// </remarks>
internal sealed class WorkerLifetimeService(
    IExecutor executor,
    IEnumerable<IRuntime> runtimes,
    RunningExecutions running,
    ExecutionLimiter limiter,
    IOptions<CrabLambdaOptions> options,
    TimeProvider timeProvider,
    ILogger<WorkerLifetimeService> logger) : IHostedLifecycleService
{
    // Killing a worker, reading what it wrote last and committing its record take milliseconds; this only bounds a
    // store that hangs.
    private static readonly TimeSpan RecordWait = TimeSpan.FromSeconds(10);

    private readonly object _gate = new();
    private ITimer? _grace;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (executor is ProcessExecutor processExecutor)
        {
            var removed = processExecutor.RemoveLeftoverFolders();
            if (removed.Count > 0)
            {
                ProcessExecutorLog.LeftoverFoldersRemoved(logger, removed.Count, string.Join(", ", removed));
            }

            // The workers start in the background: the host does not wait for an interpreter.
            processExecutor.StartGenericWorkers(runtimes);
        }

        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (executor is not ProcessExecutor processExecutor)
        {
            return Task.CompletedTask;
        }

        var grace = options.Value.ShutdownGrace;
        lock (_gate)
        {
            _grace ??= timeProvider.CreateTimer(
                _ => StopRunning(processExecutor, grace),
                null,
                grace,
                Timeout.InfiniteTimeSpan);
        }

        var (count, waiting) = (running.Count, limiter.Queued);
        if (count > 0 || waiting > 0)
        {
            ProcessExecutorLog.ShutdownWaiting(logger, count, waiting, grace.TotalSeconds);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _grace?.Dispose();
        }

        if (executor is not ProcessExecutor processExecutor)
        {
            return;
        }

        await processExecutor.ShutdownAsync().ConfigureAwait(false);
        try
        {
            await running.WhenNoneAsync().WaitAsync(RecordWait, timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            ProcessExecutorLog.ShutdownRecordsPending(logger, running.Count, RecordWait.TotalSeconds);
        }
    }

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void StopRunning(ProcessExecutor processExecutor, TimeSpan grace)
    {
        var (count, waiting) = (running.Count, limiter.Queued);
        if (count > 0 || waiting > 0)
        {
            ProcessExecutorLog.ShutdownStoppingExecutions(logger, count, waiting, grace.TotalSeconds);
        }

        _ = processExecutor.ShutdownAsync();
    }
}
