using CrabLambda.Functions;
using Microsoft.Extensions.Options;

namespace CrabLambda.Execution;

/// <summary>
/// Bounds how many executions run at once across the server, with a bounded queue in front: an invocation that
/// finds the queue full is refused at once rather than left hanging.
/// </summary>
internal sealed class ExecutionLimiter : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private readonly int _maxRunning;
    private readonly int _maxQueued;
    private int _queued;

    public ExecutionLimiter(IOptions<CrabLambdaOptions> options)
    {
        _maxRunning = options.Value.MaxConcurrentExecutions;
        _maxQueued = options.Value.MaxQueuedExecutions;
        _slots = new SemaphoreSlim(_maxRunning, _maxRunning);
    }

    /// <summary>The number of invocations waiting for a slot.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>
    /// Waits for a free slot. Dispose the returned lease to give the slot back.
    /// </summary>
    /// <exception cref="ExecutionRejectedException">The queue is full.</exception>
    public async ValueTask<Lease> AcquireAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0, CancellationToken.None))
        {
            return new Lease(_slots);
        }

        if (Interlocked.Increment(ref _queued) > _maxQueued)
        {
            Interlocked.Decrement(ref _queued);
            throw new ExecutionRejectedException(
                $"The server is running {_maxRunning} executions and {_maxQueued} more are waiting; "
                + "try again shortly.");
        }

        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _queued);
        }

        return new Lease(_slots);
    }

    public void Dispose() => _slots.Dispose();

    /// <summary>A held execution slot.</summary>
    internal readonly struct Lease(SemaphoreSlim slots) : IDisposable
    {
        public void Dispose() => slots.Release();
    }
}
