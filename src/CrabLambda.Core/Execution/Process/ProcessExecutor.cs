using System.Globalization;
using System.Text;
using CrabLambda.Runtimes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Runs functions in warm worker processes: one worker per function version serves one invocation at a time and is
/// reused by the next, concurrent invocations start more workers, and idle workers stop after the keep-alive.
/// </summary>
/// <remarks>
/// For each runtime that supports it, a few generic workers are kept started ahead (see
/// <see cref="CrabLambdaOptions.PrestartedWorkersPerRuntime"/>): a version that needs a new worker takes one, gives it
/// its limits and code and has it load the function, instead of waiting for an interpreter to start. A generic
/// worker is given exactly one version and never goes back; the executor starts another in its place.
/// </remarks>
internal sealed class ProcessExecutor : IExecutor, IAsyncDisposable
{
    // sun_path holds 108 bytes including the terminating zero.
    private const int MaxSocketPathBytes = 107;

    // Each executor's folder in the work directory is executor-TAG, with its lock file executor-TAG.lock beside it.
    private const string FolderPrefix = "executor-";
    private const string LockSuffix = ".lock";
    private const string SocketFolderPrefix = "crablambda-";

    private readonly object _gate = new();
    private readonly Dictionary<(Guid FunctionId, int Version), VersionPool> _pools = [];
    private readonly Dictionary<Worker, VersionPool> _workers = [];
    private readonly Dictionary<string, GenericPool> _generic = new(StringComparer.Ordinal);

    // Every idle worker of every version, least recently used first.
    private readonly LinkedList<Worker> _idle = new();
    private readonly int _maxIdle;
    private readonly int _genericPerRuntime;
    private readonly int _genericMemoryMb;
    private readonly bool _genericNetwork;
    private readonly WorkerSettings _settings;
    private readonly TimeSpan _keepAlive;
    private readonly string _workDirectory;
    private readonly string _tag = WorkDirectory.NewName(4);
    private readonly TimeProvider _timeProvider;
    private string? _root;
    private OwnerLock? _ownerLock;
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
        _maxIdle = settings.MaxIdleWorkers;
        _genericPerRuntime = settings.PrestartedWorkersPerRuntime;
        _genericMemoryMb = settings.DefaultMemoryMb;
        _genericNetwork = settings.DefaultNetwork;
        _workDirectory = WorkDirectory.Resolve(settings);
        _settings = new WorkerSettings
        {
            Launcher = launcher,
            TimeProvider = timeProvider,
            Logger = logger,
            MaxOutputBytes = (long)settings.MaxOutputMb * 1024 * 1024,
            MaxLogBytes = (long)settings.MaxLogKbPerExecution * 1024,
            MaxLogLines = settings.MaxLogLinesPerExecution,
            MaxProcesses = settings.MaxProcessesPerWorker,
        };
    }

    /// <summary>How long a worker may take to become ready on top of the function's timeout. Default 10 s.</summary>
    internal TimeSpan StartAllowance
    {
        get => _settings.StartAllowance;
        set => _settings.StartAllowance = value;
    }

    /// <summary>
    /// How long a worker's output may take to catch up with its result, or its streams to end after it was killed.
    /// Default 3 s.
    /// </summary>
    internal TimeSpan OutputGrace
    {
        get => _settings.OutputGrace;
        set => _settings.OutputGrace = value;
    }

    /// <inheritdoc />
    public async Task<ExecutionOutcome> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        var eventJson = WorkerMessages.ValidateEvent(request.Event);
        var (pool, worker, generic) = Acquire(request);
        worker ??= await StartWorkerAsync(pool, request, generic, cancellationToken).ConfigureAwait(false);
        try
        {
            return await worker.InvokeAsync(request, eventJson, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await ReleaseAsync(pool, worker).ConfigureAwait(false);

            // Replaced once the invocation that took one has ended, so that the start of the next does not compete
            // with it for the CPU.
            if (generic is not null)
            {
                Refill(generic);
            }
        }
    }

    /// <summary>
    /// Starts the generic workers of every runtime that supports them, in the background, and says at start-up
    /// whether they are on. Called once, when the host starts.
    /// </summary>
    public void StartGenericWorkers(IEnumerable<IRuntime> runtimes)
    {
        ArgumentNullException.ThrowIfNull(runtimes);

        if (_genericPerRuntime == 0)
        {
            // The server sets the option from its own variable, which its operators know it by.
            ProcessExecutorLog.GenericWorkersOff(
                _settings.Logger,
                "PrestartedWorkersPerRuntime (PRESTARTED_WORKERS in the server) is 0");
            return;
        }

        if (!_settings.Launcher.CanStartGeneric)
        {
            ProcessExecutorLog.GenericWorkersOff(
                _settings.Logger,
                "this executor starts every worker for its function version");
            return;
        }

        var supported = runtimes.Where(r => r.SupportsGenericWorkers).DistinctBy(r => r.Name).ToArray();
        if (supported.Length == 0)
        {
            ProcessExecutorLog.GenericWorkersOff(_settings.Logger, "no runtime supports them");
            return;
        }

        GenericPool[] pools;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);

            foreach (var runtime in supported)
            {
                _generic.TryAdd(runtime.Name, new GenericPool(runtime));
            }

            pools = [.. _generic.Values];
        }

        ProcessExecutorLog.GenericWorkersOn(
            _settings.Logger,
            _genericPerRuntime,
            string.Join(", ", pools.Select(p => p.Runtime.Name)),
            _genericNetwork ? "on" : "off");
        foreach (var pool in pools)
        {
            Refill(pool);
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
                    LeaveIdle(worker);
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

    /// <summary>
    /// Removes the folders that executors of servers which are gone left in the work directory (after a SIGKILL,
    /// say): each executor holds a lock file beside its folder for as long as it runs, so a folder whose lock can be
    /// taken has no owner. A folder without a lock file was made before there were locks and is left alone, since
    /// its owner might still run. Returns the names of the folders removed.
    /// </summary>
    public IReadOnlyList<string> RemoveLeftoverFolders()
    {
        if (!Directory.Exists(_workDirectory))
        {
            return [];
        }

        var removed = new List<string>();
        var locks = Directory.GetFiles(_workDirectory, FolderPrefix + "*" + LockSuffix);
        foreach (var lockPath in locks.Order(StringComparer.Ordinal))
        {
            var folder = lockPath[..^LockSuffix.Length];
            if (Path.GetFileName(folder) == FolderPrefix + _tag)
            {
                continue;
            }

            OwnerLock? stale;
            try
            {
                stale = OwnerLock.TryTake(lockPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (stale is null)
            {
                continue;
            }

            using (stale)
            {
                var socketFolder = stale.Read().Split('\n').ElementAtOrDefault(1) ?? "";
                if (IsSocketFolder(socketFolder))
                {
                    WorkDirectory.TryDelete(socketFolder);
                }

                var existed = Directory.Exists(folder);
                WorkDirectory.TryDelete(folder);
                if (Directory.Exists(folder))
                {
                    continue;
                }

                if (existed)
                {
                    removed.Add(Path.GetFileName(folder));
                }

                stale.Delete();
            }
        }

        return removed;
    }

    /// <summary>The process ids of a runtime's generic workers that wait for a function, for tests.</summary>
    internal IReadOnlyList<int> GetGenericWorkerProcessIds(string runtime)
    {
        lock (_gate)
        {
            return _generic.Values
                .Where(p => p.Runtime.Name == runtime)
                .SelectMany(p => p.Workers)
                .Where(w => w.Worker.IsWaitingForVersion && w.Worker.ProcessId is not null)
                .Select(w => w.Worker.ProcessId!.Value)
                .ToArray();
        }
    }

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

    /// <summary>
    /// Finds the version's pool and an idle worker in it, or else the generic workers a new one may come from.
    /// </summary>
    private (VersionPool Pool, Worker? Worker, GenericPool? Generic) Acquire(ExecutionRequest request)
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
                    LeaveIdle(idle);
                    if (idle.IsReusable)
                    {
                        return (pool, idle, null);
                    }

                    stale.Add((pool, idle));
                }

                // NOTE: a sandbox's network namespace is made when it starts, so generic workers serve only versions
                // with the default network setting; the others start workers of their own.
                var generic = request.Version.Network == _genericNetwork
                    && _generic.TryGetValue(request.Runtime.Name, out var found)
                        ? found
                        : null;
                return (pool, null, generic);
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

    /// <summary>A new worker for the version: a generic one given the version if there is one, else its own.</summary>
    private async Task<Worker> StartWorkerAsync(
        VersionPool pool,
        ExecutionRequest request,
        GenericPool? generic,
        CancellationToken cancellationToken)
    {
        var taken = generic is null
            ? null
            : await TakeGenericAsync(generic, request, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (taken is not null)
            {
                generic!.Taking.Remove(taken);
            }

            if (_disposed)
            {
                _ = taken?.Worker.StopAsync(StopReason.Shutdown);
                throw new ObjectDisposedException(nameof(ProcessExecutor));
            }

            var worker = taken?.Worker;
            if (worker is null)
            {
                var id = $"w{++_nextWorker}";
                worker = new Worker(
                    $"{_tag}-{id}",
                    request.Version,
                    request.FunctionName,
                    request.Runtime,
                    pool.CodeDirectory,
                    Path.Combine(_root!, "home", id),
                    Path.Combine(_socketDirectory!, $"{id}.sock"),
                    _settings);
            }

            _workers[worker] = pool;
            pool.WorkerCount++;
            return worker;
        }
    }

    /// <summary>
    /// Takes a generic worker out of its pool, the one that connected first or else the one whose start is furthest
    /// along (waiting for the rest of its start beats a whole new one), and gives it the version. Null when none
    /// could be had: the version then starts a worker of its own, exactly as without generic workers. A worker
    /// returned stays among the pool's <see cref="GenericPool.Taking"/>, where shutdown finds it, until registered.
    /// </summary>
    private async Task<GenericWorker?> TakeGenericAsync(
        GenericPool generic,
        ExecutionRequest request,
        CancellationToken cancellationToken)
    {
        GenericWorker? candidate;
        lock (_gate)
        {
            candidate = generic.Workers.FirstOrDefault(w => w.Worker.IsWaitingForVersion)
                ?? generic.Workers.FirstOrDefault(w => !w.WhenStarted.IsCompleted);
            if (candidate is null)
            {
                return null;
            }

            generic.Workers.Remove(candidate);
            generic.Taking.Add(candidate);
        }

        var worker = candidate.Worker;
        AssignRefusal? problem = null;
        try
        {
            // A start that failed was logged, and its worker is stopped already.
            if (await candidate.WhenStarted.WaitAsync(cancellationToken).ConfigureAwait(false) is null)
            {
                problem = await worker.AssignAsync(request.Version, request.FunctionName, cancellationToken)
                    .ConfigureAwait(false);
                if (problem is null)
                {
                    ProcessExecutorLog.GenericWorkerTaken(
                        _settings.Logger,
                        worker.Id,
                        worker.ProcessId ?? 0,
                        request.FunctionName,
                        request.Version.Version);
                    return candidate;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The invocation ends here, so the pool gets its replacement now rather than after it.
            lock (_gate)
            {
                generic.Taking.Remove(candidate);
            }

            _ = StopGenericAsync(worker, StopReason.Cancelled);
            Refill(generic);
            throw;
        }

        lock (_gate)
        {
            generic.Taking.Remove(candidate);
        }

        // A version whose limit is below a waiting interpreter's memory is routine; a worker stopped under the take by
        // a shutdown has nothing to report.
        if (problem is { AboveMemoryLimit: true })
        {
            ProcessExecutorLog.GenericWorkerAboveMemoryLimit(
                _settings.Logger,
                worker.Id,
                request.Version.MemoryMb,
                request.FunctionName,
                request.Version.Version);
        }
        else if (problem is not null && !_disposed)
        {
            ProcessExecutorLog.GenericWorkerNotTaken(
                _settings.Logger,
                worker.Id,
                request.FunctionName,
                request.Version.Version,
                problem.Reason);
        }

        await StopGenericAsync(worker, StopReason.Failed).ConfigureAwait(false);
        return null;
    }

    /// <summary>Starts generic workers until the pool has its number again; each starts in the background.</summary>
    private void Refill(GenericPool generic)
    {
        var dead = new List<GenericWorker>();
        var started = new List<GenericWorker>();
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            // A generic worker that exited while it waited is replaced.
            dead.AddRange(generic.Workers.Where(w => w.WhenStarted.IsCompleted && !w.Worker.IsWaitingForVersion));
            generic.Workers.RemoveAll(dead.Contains);

            EnsureDirectories();
            while (generic.Workers.Count < _genericPerRuntime)
            {
                var id = $"w{++_nextWorker}";
                var worker = new GenericWorker(new Worker(
                    $"{_tag}-{id}",
                    generic.Runtime,
                    Path.Combine(_root!, "task", id),
                    Path.Combine(_root!, "home", id),
                    Path.Combine(_socketDirectory!, $"{id}.sock"),
                    _settings));
                generic.Workers.Add(worker);
                started.Add(worker);
            }
        }

        foreach (var worker in dead)
        {
            _ = StopGenericAsync(worker.Worker, StopReason.Failed);
        }

        // Off the caller's thread: making a sandbox and a control group takes a few milliseconds of synchronous work.
        foreach (var worker in started)
        {
            _ = Task.Run(() => PrestartAsync(generic, worker));
        }
    }

    private async Task PrestartAsync(GenericPool generic, GenericWorker entry)
    {
        var worker = entry.Worker;
        string? error = "the start did not finish";
        try
        {
            var launch = await generic.Runtime.GetGenericLaunchAsync(CancellationToken.None).ConfigureAwait(false);
            error = await worker.PrestartAsync(launch, _genericMemoryMb, _genericNetwork, CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A start that failed in the background has nobody to throw to: it is logged, and a version that wanted
            // this worker starts one of its own.
            error = e.Message;
        }
        finally
        {
            if (error is null)
            {
                ProcessExecutorLog.GenericWorkerStarted(
                    _settings.Logger,
                    worker.Id,
                    worker.ProcessId ?? 0,
                    generic.Runtime.Name);
            }
            else
            {
                await DiscardAsync(generic, entry, error).ConfigureAwait(false);
            }

            entry.Started(error);
        }
    }

    private async Task DiscardAsync(GenericPool generic, GenericWorker entry, string error)
    {
        bool stopping;
        lock (_gate)
        {
            generic.Workers.Remove(entry);
            stopping = _disposed;
        }

        if (!stopping)
        {
            ProcessExecutorLog.GenericWorkerStartFailed(_settings.Logger, generic.Runtime.Name, error);
        }

        await StopGenericAsync(entry.Worker, StopReason.Failed).ConfigureAwait(false);
    }

    private async Task StopGenericAsync(Worker worker, StopReason reason)
    {
        try
        {
            await worker.StopAsync(reason).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            ProcessExecutorLog.WorkerStopFailed(_settings.Logger, worker.Id, e);
        }
    }

    private async Task ReleaseAsync(VersionPool pool, Worker worker)
    {
        StopReason? reason = null;
        var evicted = new List<(VersionPool Pool, Worker Worker)>();
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
                worker.IdleNode = _idle.AddLast(worker);
                pool.Idle.Add(worker);

                // Past the cap, the workers idle longest make room, whichever functions they serve.
                while (_idle.Count > _maxIdle)
                {
                    var oldest = _idle.First!.Value;
                    var oldestPool = _workers[oldest];
                    oldestPool.Idle.Remove(oldest);
                    LeaveIdle(oldest);
                    evicted.Add((oldestPool, oldest));
                }
            }
            else
            {
                reason = _disposed ? StopReason.Shutdown : pool.Retired ? StopReason.Retired : StopReason.Failed;
            }
        }

        // The invocation that made room does not wait for the stops.
        foreach (var (oldestPool, oldest) in evicted)
        {
            _ = StopWorkerAsync(oldestPool, oldest, StopReason.IdleLimit);
        }

        if (reason is { } stop)
        {
            await StopWorkerAsync(pool, worker, stop).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes an idle worker out of the idle order and stops its keep-alive; the caller takes it out of its pool.
    /// </summary>
    private void LeaveIdle(Worker worker)
    {
        worker.IsIdle = false;
        worker.IdleTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (worker.IdleNode is { } node)
        {
            _idle.Remove(node);
            worker.IdleNode = null;
        }
    }

    private void OnIdleTimeout(VersionPool pool, Worker worker)
    {
        lock (_gate)
        {
            if (!worker.IsIdle || _timeProvider.GetUtcNow() - worker.IdleSince < _keepAlive)
            {
                return;
            }

            LeaveIdle(worker);
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
        GenericWorker[] generic;
        lock (_gate)
        {
            workers = [.. _workers];
            _pools.Clear();
            _idle.Clear();
            generic = [.. _generic.Values.SelectMany(p => p.Workers.Concat(p.Taking))];
            foreach (var pool in _generic.Values)
            {
                pool.Workers.Clear();
                pool.Taking.Clear();
            }
        }

        // A generic worker still starting sees the stop and kills its process once it is known: wait for that too.
        await Task.WhenAll(workers.Select(w => StopWorkerAsync(w.Value, w.Key, StopReason.Shutdown))
            .Concat(generic.Select(w => StopGenericAsync(w.Worker, StopReason.Shutdown)))
            .Concat(generic.Select(w => (Task)w.WhenStarted)))
            .ConfigureAwait(false);

        if (_root is not null)
        {
            WorkDirectory.TryDelete(_root);
        }

        if (_ownsSocketDirectory && _socketDirectory is not null)
        {
            WorkDirectory.TryDelete(_socketDirectory);
        }

        // A folder that could not be removed keeps its lock file, unlocked, for the next server to remove both.
        if (_root is not null && Directory.Exists(_root))
        {
            _ownerLock?.Dispose();
        }
        else
        {
            _ownerLock?.Delete();
        }
    }

    private void EnsureDirectories()
    {
        if (_root is not null)
        {
            return;
        }

        // The lock first: a folder that another server finds without a held lock is one it may remove.
        WorkDirectory.CreatePrivate(_workDirectory);
        var root = Path.Combine(_workDirectory, FolderPrefix + _tag);
        var ownerLock = OwnerLock.TryTake(root + LockSuffix)
            ?? throw new IOException($"Another process holds {root}{LockSuffix}.");
        WorkDirectory.CreatePrivate(root);
        var sockets = Path.Combine(root, "s");

        // Room for "/w" + a worker number + ".sock"; a deep work directory gets its sockets somewhere shorter.
        if (Encoding.UTF8.GetByteCount(sockets) + 32 <= MaxSocketPathBytes)
        {
            WorkDirectory.CreatePrivate(sockets);
        }
        else
        {
            sockets = Directory.CreateTempSubdirectory(SocketFolderPrefix).FullName;
            _ownsSocketDirectory = true;
        }

        // What the lock file says is for a person who looks, and for the server that removes what this one leaves.
        ownerLock.Write(string.Create(
            CultureInfo.InvariantCulture,
            $"{Environment.ProcessId}\n{(_ownsSocketDirectory ? sockets : "")}\n"));
        _ownerLock = ownerLock;
        _socketDirectory = sockets;
        _root = root;
    }

    // Only a folder this executor could have made for its sockets is removed on the word of a lock file.
    private static bool IsSocketFolder(string path) =>
        path.Length > 0
        && Path.IsPathFullyQualified(path)
        && Path.GetFileName(path).StartsWith(SocketFolderPrefix, StringComparison.Ordinal)
        && Path.GetDirectoryName(path) == Path.TrimEndingDirectorySeparator(Path.GetTempPath());

    /// <summary>The workers of one function version.</summary>
    private sealed class VersionPool(string codeDirectory)
    {
        public string CodeDirectory { get; } = codeDirectory;

        public List<Worker> Idle { get; } = [];

        /// <summary>Workers alive in this pool: starting, busy or idle.</summary>
        public int WorkerCount { get; set; }

        public bool Retired { get; set; }
    }

    /// <summary>The generic workers of one runtime: starting, or started and waiting for a function.</summary>
    private sealed class GenericPool(IRuntime runtime)
    {
        public IRuntime Runtime { get; } = runtime;

        public List<GenericWorker> Workers { get; } = [];

        /// <summary>Workers taken out of the pool and being given a version, not yet among the executor's.</summary>
        public HashSet<GenericWorker> Taking { get; } = [];
    }

    /// <summary>A generic worker and the outcome of its start.</summary>
    private sealed class GenericWorker(Worker worker)
    {
        private readonly TaskCompletionSource<string?> _started =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Worker Worker { get; } = worker;

        /// <summary>Completes when the start ended: with null once the worker waits, else with why it failed.</summary>
        public Task<string?> WhenStarted => _started.Task;

        public void Started(string? error) => _started.TrySetResult(error);
    }

    private sealed class IdleTimerState(ProcessExecutor executor, VersionPool pool, Worker worker)
    {
        public void Fire() => executor.OnIdleTimeout(pool, worker);
    }
}
