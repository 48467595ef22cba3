using System.Text;
using CrabLambda.Runtimes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Runs functions in warm worker processes: one worker per function version serves one invocation at a time and is
/// reused by the next, concurrent invocations start more workers, and idle workers stop after the keep-alive.
/// </summary>
internal sealed class ProcessExecutor : IExecutor, IAsyncDisposable
{
    // sun_path holds 108 bytes including the terminating zero.
    private const int MaxSocketPathBytes = 107;

    private readonly object _gate = new();
    private readonly Dictionary<(Guid FunctionId, int Version), VersionPool> _pools = [];
    private readonly Dictionary<Worker, VersionPool> _workers = [];
    private readonly WorkerSettings _settings;
    private readonly TimeSpan _keepAlive;
    private readonly string _workDirectory;
    private readonly string _tag = WorkDirectory.NewName(4);
    private readonly TimeProvider _timeProvider;
    private string? _root;
    private string? _socketDirectory;
    private bool _ownsSocketDirectory;
    private long _nextWorker;
    private long _nextPool;
    private bool _disposed;
    private Task? _shutdown;

    public ProcessExecutor(
        IOptions<CrabLambdaOptions> options,
        IWorkerLauncher launcher,
        TimeProvider timeProvider,
        ILogger<ProcessExecutor> logger)
    {
        ArgumentNullException.ThrowIfNull(options);

        var settings = options.Value;
        _timeProvider = timeProvider;
        _keepAlive = settings.WorkerKeepAlive;
        _workDirectory = WorkDirectory.Resolve(settings);
        _settings = new WorkerSettings
        {
            Launcher = launcher,
            TimeProvider = timeProvider,
            Logger = logger,
            MaxOutputBytes = (long)settings.MaxOutputMb * 1024 * 1024,
            MaxLogBytes = (long)settings.MaxLogKbPerExecution * 1024,
            MaxProcesses = settings.MaxProcessesPerWorker,
        };
    }

    /// <summary>How long a worker may take to become ready on top of the function's timeout. Default 10 s.</summary>
    internal TimeSpan StartAllowance
    {
        get => _settings.StartAllowance;
        set => _settings.StartAllowance = value;
    }

    /// <inheritdoc />
    public async Task<ExecutionOutcome> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        var eventJson = WorkerMessages.ValidateEvent(request.Event);
        var (pool, worker) = Acquire(request);
        try
        {
            return await worker.InvokeAsync(request, eventJson, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await ReleaseAsync(pool, worker).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task RetireAsync(Guid functionId)
    {
        var idle = new List<(VersionPool Pool, Worker Worker)>();
        var empty = new List<VersionPool>();
        lock (_gate)
        {
            foreach (var (key, pool) in _pools.Where(p => p.Key.FunctionId == functionId).ToArray())
            {
                _pools.Remove(key);
                pool.Retired = true;
                foreach (var worker in pool.Idle)
                {
                    worker.IsIdle = false;
                    idle.Add((pool, worker));
                }

                pool.Idle.Clear();
                if (pool.WorkerCount == 0)
                {
                    empty.Add(pool);
                }
            }
        }

        // Busy workers finish their invocation and are stopped when they come back.
        await Task.WhenAll(idle.Select(w => StopWorkerAsync(w.Pool, w.Worker, StopReason.Retired)))
            .ConfigureAwait(false);
        foreach (var pool in empty)
        {
            WorkDirectory.TryDelete(pool.CodeDirectory);
        }
    }

    /// <summary>
    /// Stops every worker, busy or idle, and removes the executor's folders. Invocations still running end with an
    /// error; later ones throw <see cref="ObjectDisposedException"/>.
    /// </summary>
    public Task ShutdownAsync()
    {
        lock (_gate)
        {
            _disposed = true;
            return _shutdown ??= ShutdownCoreAsync();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await ShutdownAsync().ConfigureAwait(false);

    /// <summary>The process ids of a function's live workers, for tests and diagnostics.</summary>
    internal IReadOnlyList<int> GetWorkerProcessIds(Guid functionId)
    {
        lock (_gate)
        {
            return _workers.Keys
                .Where(w => w.Version.FunctionId == functionId && w.ProcessId is not null)
                .Select(w => w.ProcessId!.Value)
                .ToArray();
        }
    }

    private (VersionPool Pool, Worker Worker) Acquire(ExecutionRequest request)
    {
        var stale = new List<(VersionPool Pool, Worker Worker)>();
        try
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);

                var key = (request.Version.FunctionId, request.Version.Version);
                if (!_pools.TryGetValue(key, out var pool))
                {
                    EnsureDirectories();
                    var name = $"{key.FunctionId:N}-{key.Version}-{++_nextPool}";
                    pool = new VersionPool(Path.Combine(_root!, "code", name));
                    _pools[key] = pool;
                }

                // The most recently used worker first, so that the others age out under a light load.
                while (pool.Idle.Count > 0)
                {
                    var idle = pool.Idle[^1];
                    pool.Idle.RemoveAt(pool.Idle.Count - 1);
                    idle.IsIdle = false;
                    idle.IdleTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    if (idle.IsReusable)
                    {
                        return (pool, idle);
                    }

                    stale.Add((pool, idle));
                }

                var id = $"w{++_nextWorker}";
                var worker = new Worker(
                    $"{_tag}-{id}",
                    request.Version,
                    request.FunctionName,
                    request.Runtime,
                    pool.CodeDirectory,
                    Path.Combine(_root!, "home", id),
                    Path.Combine(_socketDirectory!, $"{id}.sock"),
                    _settings);
                _workers[worker] = pool;
                pool.WorkerCount++;
                return (pool, worker);
            }
        }
        finally
        {
            // An idle worker that died on its own is replaced by a fresh one.
            foreach (var (pool, worker) in stale)
            {
                _ = StopWorkerAsync(pool, worker, StopReason.Failed);
            }
        }
    }

    private async Task ReleaseAsync(VersionPool pool, Worker worker)
    {
        StopReason reason;
        lock (_gate)
        {
            if (worker.IsReusable && !pool.Retired && !_disposed)
            {
                worker.IsIdle = true;
                worker.IdleSince = _timeProvider.GetUtcNow();
                worker.IdleTimer ??= _timeProvider.CreateTimer(
                    static state => ((IdleTimerState)state!).Fire(),
                    new IdleTimerState(this, pool, worker),
                    Timeout.InfiniteTimeSpan,
                    Timeout.InfiniteTimeSpan);
                worker.IdleTimer.Change(_keepAlive, Timeout.InfiniteTimeSpan);
                pool.Idle.Add(worker);
                return;
            }

            reason = _disposed ? StopReason.Shutdown : pool.Retired ? StopReason.Retired : StopReason.Failed;
        }

        await StopWorkerAsync(pool, worker, reason).ConfigureAwait(false);
    }

    private void OnIdleTimeout(VersionPool pool, Worker worker)
    {
        lock (_gate)
        {
            if (!worker.IsIdle || _timeProvider.GetUtcNow() - worker.IdleSince < _keepAlive)
            {
                return;
            }

            worker.IsIdle = false;
            pool.Idle.Remove(worker);
        }

        _ = StopWorkerAsync(pool, worker, StopReason.KeepAlive);
    }

    private async Task StopWorkerAsync(VersionPool pool, Worker worker, StopReason reason)
    {
        try
        {
            await worker.StopAsync(reason).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            ProcessExecutorLog.WorkerStopFailed(_settings.Logger, worker.Id, e);
        }

        bool deleteCode;
        lock (_gate)
        {
            if (!_workers.Remove(worker))
            {
                return;
            }

            pool.WorkerCount--;
            deleteCode = pool.Retired && pool.WorkerCount == 0;
        }

        worker.IdleTimer?.Dispose();
        if (deleteCode)
        {
            WorkDirectory.TryDelete(pool.CodeDirectory);
        }
    }

    private async Task ShutdownCoreAsync()
    {
        await Task.Yield();
        KeyValuePair<Worker, VersionPool>[] workers;
        lock (_gate)
        {
            workers = [.. _workers];
            _pools.Clear();
        }

        await Task.WhenAll(workers.Select(w => StopWorkerAsync(w.Value, w.Key, StopReason.Shutdown)))
            .ConfigureAwait(false);

        if (_root is not null)
        {
            WorkDirectory.TryDelete(_root);
        }

        if (_ownsSocketDirectory && _socketDirectory is not null)
        {
            WorkDirectory.TryDelete(_socketDirectory);
        }
    }

    private void EnsureDirectories()
    {
        if (_root is not null)
        {
            return;
        }

        var root = WorkDirectory.CreatePrivate(Path.Combine(_workDirectory, $"executor-{_tag}"));
        var sockets = Path.Combine(root, "s");

        // Room for "/w" + a worker number + ".sock"; a deep work directory gets its sockets somewhere shorter.
        if (Encoding.UTF8.GetByteCount(sockets) + 32 <= MaxSocketPathBytes)
        {
            WorkDirectory.CreatePrivate(sockets);
        }
        else
        {
            sockets = Directory.CreateTempSubdirectory("crablambda-").FullName;
            _ownsSocketDirectory = true;
        }

        _socketDirectory = sockets;
        _root = root;
    }

    /// <summary>The workers of one function version.</summary>
    private sealed class VersionPool(string codeDirectory)
    {
        public string CodeDirectory { get; } = codeDirectory;

        public List<Worker> Idle { get; } = [];

        /// <summary>Workers alive in this pool: starting, busy or idle.</summary>
        public int WorkerCount { get; set; }

        public bool Retired { get; set; }
    }

    private sealed class IdleTimerState(ProcessExecutor executor, VersionPool pool, Worker worker)
    {
        public void Fire() => executor.OnIdleTimeout(pool, worker);
    }
}
