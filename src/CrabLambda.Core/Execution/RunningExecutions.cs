namespace CrabLambda.Execution;

/// <summary>
/// Counts the invocations between the start of their execution and the commit of their record, so that a host that
/// stops can say how many are running and wait until those it stopped are recorded. An invocation still waiting for
/// an execution slot is not counted here; <see cref="ExecutionLimiter.Queued"/> counts it.
/// </summary>
internal sealed class RunningExecutions
{
    private readonly object _gate = new();
    private int _count;
    private TaskCompletionSource? _none;

    /// <summary>How many invocations are executing or being recorded.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>Counts one invocation until the returned scope is disposed.</summary>
    public Scope Enter()
    {
        lock (_gate)
        {
            _count++;
        }

        return new Scope(this);
    }

    /// <summary>Completes once no invocation is executing or being recorded.</summary>
    public Task WhenNoneAsync()
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                return Task.CompletedTask;
            }

            _none ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _none.Task;
        }
    }

    private void Leave()
    {
        TaskCompletionSource? none = null;
        lock (_gate)
        {
            _count--;
            if (_count == 0)
            {
                none = _none;
                _none = null;
            }
        }

        none?.TrySetResult();
    }

    /// <summary>One counted invocation.</summary>
    internal readonly struct Scope(RunningExecutions owner) : IDisposable
    {
        public void Dispose() => owner.Leave();
    }
}
