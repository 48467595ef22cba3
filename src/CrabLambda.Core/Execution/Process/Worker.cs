using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using CrabLambda.Functions;
using CrabLambda.Runtimes;

namespace CrabLambda.Execution.Process;

/// <summary>
/// One worker process: a function version loaded once, serving one invocation at a time over the worker protocol.
/// </summary>
/// <remarks>
/// The executor owns the pooling; a worker only knows how to start, run an invocation and stop. A worker made for a
/// version starts lazily with its first invocation; a generic one is started ahead without a function
/// (<see cref="PrestartAsync"/>), given one version (<see cref="AssignAsync"/>) and loads it at its first invocation.
/// Either way load-time output and load errors land on that invocation.
/// </remarks>
internal sealed class Worker
{
    private const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;
    private const int SignalExitBase = 128;

    private readonly WorkerSettings _settings;
    private readonly IRuntime _runtime;
    private readonly string _codeDirectory;
    private readonly bool _ownsCodeDirectory;
    private readonly string _privateDirectory;
    private readonly string _socketPath;
    private readonly object _sync = new();

    private FunctionVersion? _version;
    private string? _functionName;
    private ReadOnlyMemory<byte>? _loadFrame;
    private long _oomKillsBeforeLoad;
    private Socket? _listener;
    private WorkerChannel? _channel;
    private IWorkerProcess? _process;
    private WorkerOutput? _output;
    private volatile WorkerState _state;
    private StopReason? _stopReason;
    private Task? _stopTask;

    public Worker(
        string id,
        FunctionVersion version,
        string functionName,
        IRuntime runtime,
        string codeDirectory,
        string privateDirectory,
        string socketPath,
        WorkerSettings settings)
        : this(id, runtime, codeDirectory, privateDirectory, socketPath, settings, ownsCodeDirectory: false)
    {
        _version = version;
        _functionName = functionName;
    }

    /// <summary>
    /// A generic worker of a runtime, to be started ahead and given its version later. Its code folder is its own and
    /// is removed when it stops.
    /// </summary>
    public Worker(
        string id,
        IRuntime runtime,
        string codeDirectory,
        string privateDirectory,
        string socketPath,
        WorkerSettings settings)
        : this(id, runtime, codeDirectory, privateDirectory, socketPath, settings, ownsCodeDirectory: true)
    {
    }

    private Worker(
        string id,
        IRuntime runtime,
        string codeDirectory,
        string privateDirectory,
        string socketPath,
        WorkerSettings settings,
        bool ownsCodeDirectory)
    {
        Id = id;
        _runtime = runtime;
        _codeDirectory = codeDirectory;
        _ownsCodeDirectory = ownsCodeDirectory;
        _privateDirectory = privateDirectory;
        _socketPath = socketPath;
        _settings = settings;
    }

    private enum WorkerState
    {
        New,
        Waiting,
        Ready,
        Broken,
    }

    /// <summary>The worker's name within its executor, for logs.</summary>
    public string Id { get; }

    /// <summary>The version this worker runs.</summary>
    public FunctionVersion Version =>
        _version ?? throw new InvalidOperationException("A generic worker has no version until it is given one.");

    /// <summary>The function's name, for logs and the handler's context.</summary>
    public string FunctionName =>
        _functionName ?? throw new InvalidOperationException("A generic worker has no function until it is given one.");

    /// <summary>The runtime the worker belongs to.</summary>
    public IRuntime Runtime => _runtime;

    /// <summary>The worker's process id once it started.</summary>
    public int? ProcessId => _process?.Id;

    /// <summary>Whether the worker is loaded, alive and its streams in step, so it can serve again.</summary>
    public bool IsReusable =>
        _state == WorkerState.Ready
        && _process is { Exited.IsCompleted: false }
        && _output is { HasEnded: false }
        && _stopReason is null;

    /// <summary>
    /// Whether this is a generic worker that started, waits for its function and has not been given one yet.
    /// </summary>
    public bool IsWaitingForVersion =>
        _state == WorkerState.Waiting
        && _version is null
        && _process is { Exited.IsCompleted: false }
        && _output is { HasEnded: false }
        && _stopReason is null;

    /// <summary>Set by the executor while the worker waits in its pool.</summary>
    public bool IsIdle { get; set; }

    /// <summary>When the worker last became idle.</summary>
    public DateTimeOffset IdleSince { get; set; }

    /// <summary>The executor's keep-alive timer for this worker, created on first use.</summary>
    public ITimer? IdleTimer { get; set; }

    /// <summary>The worker's place among the executor's idle workers (least recently used first) while idle.</summary>
    public LinkedListNode<Worker>? IdleNode { get; set; }

    private TimeProvider Time => _settings.TimeProvider;

    /// <summary>
    /// Runs one invocation, starting the worker first if this is its first. Never throws for something the function
    /// did; throws when the host cannot start workers at all or <paramref name="cancellationToken"/> fired.
    /// </summary>
    public async Task<ExecutionOutcome> InvokeAsync(
        ExecutionRequest request,
        ReadOnlyMemory<byte> eventJson,
        CancellationToken cancellationToken)
    {
        var startedAt = Time.GetTimestamp();
        var marker = $"crablambda-end-{WorkDirectory.NewName(16)}";

        InvocationLog log;
        if (_state is WorkerState.New or WorkerState.Waiting)
        {
            // The handler's run time is what an invocation reports, so one whose worker did not start reports none.
            if (_state == WorkerState.New)
            {
                var launchError = await LaunchAsync(cancellationToken).ConfigureAwait(false);
                if (launchError is not null)
                {
                    _state = WorkerState.Broken;
                    return Outcome(ExecutionStatus.Error, null, launchError, TimeSpan.Zero, null, []);
                }
            }

            log = _output!.Begin(Encoding.ASCII.GetBytes(marker));
            var startError = await WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
            if (startError is not null)
            {
                _state = WorkerState.Broken;
                var status = ExecutionStatus.Error;
                if (RanOutOfMemoryWhileStarting())
                {
                    status = ExecutionStatus.Oom;
                    startError = $"The function needed more than its memory limit of {Version.MemoryMb} MB to start: "
                        + "the kernel's out-of-memory killer stopped its worker while it loaded.";
                }

                ProcessExecutorLog.WorkerStartFailed(_settings.Logger, Id, FunctionName, Version.Version, startError);
                Kill(StopReason.Failed);
                var lines = await DrainAsync(log).ConfigureAwait(false);
                return Outcome(status, null, startError, TimeSpan.Zero, null, lines);
            }
        }
        else
        {
            log = _output!.Begin(Encoding.ASCII.GetBytes(marker));
        }

        return await RunAsync(request, eventJson, marker, log, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Kills the worker with everything it started and releases its resources. Returns the same task when called again.
    /// </summary>
    public Task StopAsync(StopReason reason)
    {
        lock (_sync)
        {
            _stopReason ??= reason;
            return _stopTask ??= StopCoreAsync();
        }
    }

    /// <summary>
    /// Starts a generic worker and waits until it has connected, so that it is ready to be given a version. Returns
    /// why it did not start, or null.
    /// </summary>
    /// <param name="launch">The runtime's generic worker program.</param>
    /// <param name="memoryMb">The memory limit until the worker is given a version.</param>
    /// <param name="network">Whether the worker keeps the network; only versions that match may be given to it.</param>
    /// <param name="cancellationToken">Cancels the start; the worker is then stopped.</param>
    public async Task<string?> PrestartAsync(
        WorkerLaunch launch,
        int memoryMb,
        bool network,
        CancellationToken cancellationToken)
    {
        WorkDirectory.CreatePrivate(_codeDirectory);
        var environment = BuildEnvironment(launch);
        var startInfo = new GenericWorkerStartInfo(
            launch,
            memoryMb,
            network,
            _codeDirectory,
            _privateDirectory,
            environment);
        var launchError = await StartProcessAsync(
            token => _settings.Launcher.StartGenericAsync(startInfo, token),
            cancellationToken).ConfigureAwait(false);
        if (launchError is not null)
        {
            _state = WorkerState.Broken;
            return launchError;
        }

        using var startTimeout = new CancellationTokenSource(_settings.StartAllowance, Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, startTimeout.Token);
        string? error;
        try
        {
            error = await ConnectAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (startTimeout.IsCancellationRequested
            && !cancellationToken.IsCancellationRequested)
        {
            error = $"The worker did not connect within {_settings.StartAllowance.TotalSeconds:0.#} s.";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Kill(StopReason.Cancelled);
            throw;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException
            or OperationCanceledException)
        {
            error = await DescribeEarlyExitAsync().ConfigureAwait(false);
        }

        _state = error is null ? WorkerState.Waiting : WorkerState.Broken;
        return error;
    }

    /// <summary>
    /// Gives a generic worker that waits for its function the version it will load at its first invocation: writes
    /// the code into the worker's own code folder and sets the version's limits on it. Returns why it cannot take
    /// the version (the worker must then be stopped), or null.
    /// </summary>
    public async Task<AssignRefusal?> AssignAsync(
        FunctionVersion version,
        string functionName,
        CancellationToken cancellationToken)
    {
        if (!IsWaitingForVersion)
        {
            return new AssignRefusal("the worker is not waiting for a function", AboveMemoryLimit: false);
        }

        try
        {
            var load = await _runtime.GetLoadAsync(version, _codeDirectory, cancellationToken).ConfigureAwait(false);

            // Before the limit is set: lowered below the usage on cgroup v2, it makes the kernel kill in the group.
            _oomKillsBeforeLoad = _process!.HasOwnMemoryGroup ? _process.ReadOomKillCount() : 0;
            var codePath = _process.AssignVersion(version, load.CodePath);
            _loadFrame = WorkerMessages.BuildLoad(codePath, load.Handler);
        }
        catch (MemoryLimitBelowUsageException e)
        {
            return new AssignRefusal(e.Message, AboveMemoryLimit: true);
        }
        catch (Exception e) when (e is FunctionCodeException or IOException or UnauthorizedAccessException
            or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            return new AssignRefusal(e.Message, AboveMemoryLimit: false);
        }

        _version = version;
        _functionName = functionName;
        return null;
    }

    private async Task<string?> LaunchAsync(CancellationToken cancellationToken)
    {
        WorkDirectory.CreatePrivate(_codeDirectory);
        WorkerLaunch launch;
        try
        {
            launch = await _runtime.GetLaunchAsync(Version, _codeDirectory, cancellationToken).ConfigureAwait(false);
        }
        catch (FunctionCodeException e)
        {
            return e.Message;
        }

        var environment = BuildEnvironment(launch);
        var startInfo = new WorkerStartInfo(launch, Version, _codeDirectory, _privateDirectory, environment);
        return await StartProcessAsync(
            token => _settings.Launcher.StartAsync(startInfo, token),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The worker's complete environment: a clean base set, the runtime's variables and the socket.</summary>
    private Dictionary<string, string> BuildEnvironment(WorkerLaunch launch)
    {
        WorkDirectory.CreatePrivate(_privateDirectory);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = DefaultPath,
            ["LANG"] = "C.UTF-8",
            ["HOME"] = _privateDirectory,
            ["TMPDIR"] = _privateDirectory,
        };
        foreach (var (name, value) in launch.Environment)
        {
            environment[name] = value;
        }

        environment[WorkerProtocol.SocketVariable] = _socketPath;
        return environment;
    }

    /// <summary>Listens on the worker's socket, starts its process and starts reading its output.</summary>
    private async Task<string?> StartProcessAsync(
        Func<CancellationToken, Task<IWorkerProcess>> start,
        CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            if (_stopReason is { } reason)
            {
                return DescribeStop(reason);
            }

            _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _listener.Bind(new UnixDomainSocketEndPoint(_socketPath));
            _listener.Listen(1);
        }

        // A launcher may take a while (a container starts in a few hundred milliseconds), so it runs outside the lock
        // and a stop that came meanwhile is honoured once the process is known.
        IWorkerProcess process;
        try
        {
            process = await start(cancellationToken).ConfigureAwait(false);
        }
        catch (WorkerStartException e)
        {
            CloseListener();
            if (_version is not null)
            {
                ProcessExecutorLog.WorkerStartFailed(_settings.Logger, Id, FunctionName, Version.Version, e.Message);
            }

            return e.Message;
        }
        catch
        {
            CloseListener();
            throw;
        }

        StopReason? stopped;
        lock (_sync)
        {
            _process = process;
            _output = new WorkerOutput(
                process.StandardOutput,
                process.StandardError,
                WorkerSettings.MaxLineBytes,
                _settings.MaxLogBytes,
                _settings.MaxLogLines,
                Time);
            _output.Start();
            stopped = _stopReason;
        }

        if (stopped is { } late)
        {
            process.Kill();
            await process.DisposeAsync().ConfigureAwait(false);
            return DescribeStop(late);
        }

        return null;
    }

    private async Task<string?> WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var process = _process!;
        var limit = _settings.StartAllowance + TimeSpan.FromSeconds(Version.TimeoutSecs);
        using var startTimeout = new CancellationTokenSource(limit, Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, startTimeout.Token);

        try
        {
            if (_loadFrame is { } load)
            {
                // A generic worker connected when it started: tell it which function to load.
                await _channel!.SendAsync(load, linked.Token).ConfigureAwait(false);
            }
            else if (await ConnectAsync(linked.Token).ConfigureAwait(false) is { } connectError)
            {
                return connectError;
            }

            var receive = _channel!.ReceiveAsync(_settings.MaxFrameBytes, _settings.MaxOutputBytes, linked.Token);
            if (await Task.WhenAny(receive, process.Exited).ConfigureAwait(false) != receive)
            {
                receive = WithinGraceAsync(receive);
            }

            var message = await receive.ConfigureAwait(false);
            switch (message?.Type)
            {
                case WorkerMessageType.Ready:
                    _state = WorkerState.Ready;
                    ProcessExecutorLog.WorkerStarted(
                        _settings.Logger,
                        Id,
                        process.Id,
                        FunctionName,
                        Version.Version,
                        Version.Runtime);
                    return null;
                case WorkerMessageType.LoadError:
                    return message.DescribeError();
                case null:
                    return await DescribeEarlyExitAsync().ConfigureAwait(false);
                default:
                    return "The worker sent a result before it was ready.";
            }
        }
        catch (OperationCanceledException) when (startTimeout.IsCancellationRequested
            && !cancellationToken.IsCancellationRequested)
        {
            return $"The function's worker did not become ready within {limit.TotalSeconds:0.#} s.";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Kill(StopReason.Cancelled);
            throw;
        }
        catch (Exception e) when (e is WorkerProtocolException or WorkerFrameTooLargeException)
        {
            return $"The worker broke the worker protocol while starting: {e.Message}";
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException
            or OperationCanceledException)
        {
            // The connection broke, or was closed under the start because the worker is being stopped.
            return await DescribeEarlyExitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Accepts the worker's connection and checks that it comes from the worker; returns why not, or null.
    /// </summary>
    private async Task<string?> ConnectAsync(CancellationToken cancellationToken)
    {
        var process = _process!;

        // A worker that fails to load connects, sends its error and exits at once, possibly before the host saw the
        // connection: what it sent is still waiting in the socket, so an exit alone does not end the start.
        using var acceptCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var accept = _listener!.AcceptAsync(acceptCancel.Token).AsTask();
        var socket = await Task.WhenAny(accept, process.Exited).ConfigureAwait(false) == accept
            ? await accept.ConfigureAwait(false)
            : await AcceptAfterExitAsync(accept, acceptCancel, cancellationToken).ConfigureAwait(false);
        CloseListener();
        if (socket is null)
        {
            return await DescribeEarlyExitAsync().ConfigureAwait(false);
        }

        if (!process.Owns(PeerProcessId(socket)))
        {
            socket.Dispose();
            return "A process other than the worker connected to the worker's socket.";
        }

        _channel = new WorkerChannel(socket);
        return null;
    }

    private async Task<ExecutionOutcome> RunAsync(
        ExecutionRequest request,
        ReadOnlyMemory<byte> eventJson,
        string marker,
        InvocationLog log,
        CancellationToken cancellationToken)
    {
        var process = _process!;
        var channel = _channel!;
        var timeout = TimeSpan.FromSeconds(Version.TimeoutSecs);
        var oomKillsBefore = process.ReadOomKillCount();
        var limitHitsBefore = process.ReadProcessLimitHits();
        process.ResetPeakMemory();
        var deadline = Time.GetUtcNow() + timeout;
        var frame = WorkerMessages.BuildInvoke(request, eventJson.Span, marker, deadline.ToUnixTimeMilliseconds());

        using var timeoutSource = new CancellationTokenSource(timeout, Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);
        var startedAt = Time.GetTimestamp();
        WorkerMessage? message;
        try
        {
            await channel.SendAsync(frame, linked.Token).ConfigureAwait(false);
            var receive = channel.ReceiveAsync(_settings.MaxFrameBytes, _settings.MaxOutputBytes, linked.Token);
            if (await Task.WhenAny(receive, process.Exited).ConfigureAwait(false) != receive)
            {
                // The worker died. Its children may still hold the socket open: kill them, then see whether the result
                // made it out before the end.
                _state = WorkerState.Broken;
                process.Kill();
                receive = WithinGraceAsync(receive);
            }

            message = await receive.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeoutSource.IsCancellationRequested
            && !cancellationToken.IsCancellationRequested)
        {
            return await TimedOutAsync(request, log, startedAt).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Kill(StopReason.Cancelled);
            throw;
        }
        catch (WorkerFrameTooLargeException e)
        {
            Kill(StopReason.Failed);
            var lines = await DrainAsync(log).ConfigureAwait(false);
            return Outcome(ExecutionStatus.Error, null, OutputTooLarge(e.Length), startedAt, null, lines);
        }
        catch (WorkerProtocolException e)
        {
            Kill(StopReason.Failed);
            var lines = await DrainAsync(log).ConfigureAwait(false);
            var error = $"The worker broke the worker protocol: {e.Message}";
            return Outcome(ExecutionStatus.Error, null, error, startedAt, null, lines);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException
            or OperationCanceledException)
        {
            // The connection broke, or was closed under the invocation because the worker is being stopped.
            message = null;
        }

        if (message is not null)
        {
            var finished = await FinishAsync(request, message, log, startedAt).ConfigureAwait(false);
            return AttributeLimits(finished, process, oomKillsBefore, limitHitsBefore);
        }

        // Logged once the cause is known, so that the log says what the answer says.
        var died = await DiedAsync(log, startedAt, oomKillsBefore).ConfigureAwait(false);
        died = AttributeLimits(died, process, oomKillsBefore, limitHitsBefore);
        ProcessExecutorLog.WorkerDied(
            _settings.Logger,
            Id,
            process.Id,
            FunctionName,
            Version.Version,
            request.ExecutionId,
            died.Error!);
        return died;
    }

    /// <summary>
    /// Whether the kernel's OOM killer killed in the worker's own memory group while it started and loaded the
    /// function: a fresh group counts from zero, a generic worker from when it was given the version.
    /// </summary>
    private bool RanOutOfMemoryWhileStarting() =>
        _stopReason is null
        && _process is { HasOwnMemoryGroup: true } process
        && process.ReadOomKillCount() > _oomKillsBeforeLoad;

    /// <summary>
    /// Names the limit a failed invocation ran into, from the kernel's own counters for the worker's group: a kill
    /// by the OOM killer inside the group is <c>oom</c> whatever the function printed, and a refused fork or thread
    /// is said in the error.
    /// </summary>
    private ExecutionOutcome AttributeLimits(
        ExecutionOutcome outcome,
        IWorkerProcess process,
        long oomKillsBefore,
        long limitHitsBefore)
    {
        if (outcome.Status is ExecutionStatus.Success or ExecutionStatus.Timeout)
        {
            return outcome;
        }

        if (process.HasOwnMemoryGroup && oomKillsBefore >= 0 && process.ReadOomKillCount() > oomKillsBefore)
        {
            var error = $"The function went past its memory limit of {Version.MemoryMb} MB and was killed by the "
                + "kernel's out-of-memory killer.";
            return outcome with { Status = ExecutionStatus.Oom, Error = error };
        }

        if (limitHitsBefore >= 0 && process.ReadProcessLimitHits() > limitHitsBefore)
        {
            var note = $"The function reached its limit of {_settings.MaxProcesses} processes and threads, so a fork "
                + "or a new thread was refused.";
            return outcome with { Error = outcome.Error is null ? note : note + "\n" + outcome.Error };
        }

        return outcome;
    }

    private async Task<ExecutionOutcome> FinishAsync(
        ExecutionRequest request,
        WorkerMessage message,
        InvocationLog log,
        long startedAt)
    {
        var duration = Time.GetElapsedTime(startedAt);
        if (message.Type != WorkerMessageType.Result || message.Id != request.ExecutionId.ToString())
        {
            Kill(StopReason.Failed);
            var lines = await DrainAsync(log).ConfigureAwait(false);
            const string Error = "The worker broke the worker protocol: it answered another execution.";
            return Outcome(ExecutionStatus.Error, null, Error, duration, null, lines);
        }

        var peak = _process!.ReadPeakMemoryBytes();
        try
        {
            await log.Completed.WaitAsync(_settings.OutputGrace, Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The markers did not come (the function closed its stdout, say): keep what was read, and do not reuse a
            // worker whose output can no longer be cut into invocations.
            _state = WorkerState.Broken;
        }

        var logs = log.Snapshot();
        if (!message.Ok)
        {
            return Outcome(ExecutionStatus.Error, null, message.DescribeError(), duration, peak, logs);
        }

        if (message.Output is null)
        {
            return Outcome(ExecutionStatus.Error, null, OutputTooLarge(message.OutputBytes), duration, peak, logs);
        }

        return Outcome(ExecutionStatus.Success, message.Output, null, duration, peak, logs);
    }

    private async Task<ExecutionOutcome> TimedOutAsync(ExecutionRequest request, InvocationLog log, long startedAt)
    {
        var duration = Time.GetElapsedTime(startedAt);
        var peak = _process!.ReadPeakMemoryBytes();
        ProcessExecutorLog.WorkerTimedOut(
            _settings.Logger,
            Id,
            _process.Id,
            FunctionName,
            Version.Version,
            request.ExecutionId,
            Version.TimeoutSecs);
        Kill(StopReason.Timeout);

        var lines = await DrainAsync(log).ConfigureAwait(false);
        var error = $"The function ran longer than its timeout of {Version.TimeoutSecs} s and was stopped.";
        return Outcome(ExecutionStatus.Timeout, null, error, duration, peak, lines);
    }

    private async Task<ExecutionOutcome> DiedAsync(InvocationLog log, long startedAt, long oomKillsBefore)
    {
        var duration = Time.GetElapsedTime(startedAt);
        var process = _process!;
        _state = WorkerState.Broken;
        var exitCode = await ExitCodeWithinGraceAsync().ConfigureAwait(false);
        process.Kill();

        ExecutionStatus status;
        string error;
        if (_stopReason is { } reason)
        {
            status = ExecutionStatus.Error;
            error = DescribeStop(reason);
        }
        else if (!process.HasOwnMemoryGroup
            && exitCode == SignalExitBase + NativeMethods.SigKill
            && oomKillsBefore >= 0
            && process.ReadOomKillCount() > oomKillsBefore)
        {
            // NOTE: without a memory cgroup the kernel only kills for memory when the whole host runs short; a rise of
            // its kill counter while the worker died of SIGKILL is the best evidence there is that it was the cause.
            // A worker with a group of its own is judged on that group's counter (AttributeLimits).
            status = ExecutionStatus.Oom;
            error = "The function was killed by the kernel's out-of-memory killer: the host ran out of memory.";
        }
        else
        {
            status = ExecutionStatus.Error;
            error = DescribeExit(exitCode, "before it returned a result");
        }

        var lines = await DrainAsync(log).ConfigureAwait(false);
        return Outcome(status, null, error, duration, process.ReadPeakMemoryBytes(), lines);
    }

    private async Task<string> DescribeEarlyExitAsync()
    {
        if (_stopReason is { } reason)
        {
            return DescribeStop(reason);
        }

        var exitCode = await ExitCodeWithinGraceAsync().ConfigureAwait(false);
        return DescribeExit(exitCode, "before it was ready");
    }

    private async Task<int?> ExitCodeWithinGraceAsync()
    {
        try
        {
            return await _process!.Exited.WaitAsync(_settings.OutputGrace, Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>
    /// Takes the connection of a worker process that has exited, or returns null when it never connected. A
    /// connection is queued on the listener before connect() returns in the worker, so once the process has exited
    /// the queue holds every connection it made: there is nothing to wait for.
    /// </summary>
    private async Task<Socket?> AcceptAfterExitAsync(
        Task<Socket> accept,
        CancellationTokenSource acceptCancel,
        CancellationToken cancellationToken)
    {
        // Withdraws the pending accept. One that has already taken the connection completes with it instead.
        await acceptCancel.CancelAsync().ConfigureAwait(false);
        try
        {
            return await accept.ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        Socket? listener;
        lock (_sync)
        {
            listener = _listener;
        }

        try
        {
            // Nothing else accepts on the listener now: a connection still queued is taken at once.
            return listener is not null && listener.Poll(0, SelectMode.SelectRead) ? listener.Accept() : null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The worker is being stopped and its listener was closed.
            return null;
        }
    }

    private async Task<WorkerMessage?> WithinGraceAsync(Task<WorkerMessage?> receive)
    {
        try
        {
            return await receive.WaitAsync(_settings.OutputGrace, Time).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or IOException or SocketException or ObjectDisposedException
            or OperationCanceledException or WorkerProtocolException or WorkerFrameTooLargeException)
        {
            return null;
        }
    }

    /// <summary>Waits for both streams to end after a kill, then returns what the invocation wrote.</summary>
    private async Task<IReadOnlyList<LogEntry>> DrainAsync(InvocationLog log)
    {
        try
        {
            await log.Completed.WaitAsync(_settings.OutputGrace, Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // NOTE: a process that left the worker's session and process tree can hold the pipes open; the lines read
            // so far are all there is.
        }

        return log.Snapshot();
    }

    private void Kill(StopReason reason)
    {
        IWorkerProcess? process;
        lock (_sync)
        {
            _stopReason ??= reason;
            _state = WorkerState.Broken;
            process = _process;
        }

        process?.Kill();
    }

    private async Task StopCoreAsync()
    {
        await Task.Yield();
        Kill(_stopReason ?? StopReason.Failed);
        CloseListener();
        _channel?.Dispose();

        var process = _process;
        if (process is not null)
        {
            try
            {
                await process.Exited.WaitAsync(TimeSpan.FromSeconds(10), Time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A process stuck in the kernel cannot be waited for; it dies when the kernel lets it.
            }

            await process.DisposeAsync().ConfigureAwait(false);
        }

        WorkDirectory.TryDelete(_privateDirectory);
        if (_ownsCodeDirectory)
        {
            WorkDirectory.TryDelete(_codeDirectory);
        }

        ProcessExecutorLog.WorkerStopped(_settings.Logger, Id, process?.Id, DescribeStopForLog(_stopReason));
    }

    private void CloseListener()
    {
        lock (_sync)
        {
            if (_listener is null)
            {
                return;
            }

            _listener.Dispose();
            _listener = null;
        }

        try
        {
            File.Delete(_socketPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The socket file is in the executor's own folder, which is removed at shutdown.
        }
    }

    private string OutputTooLarge(long bytes) =>
        $"The function's output of {bytes} bytes is larger than the limit of "
        + $"{_settings.MaxOutputBytes / (1024 * 1024)} MiB (MaxOutputMb).";

    private static int PeerProcessId(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        Span<byte> credentials = stackalloc byte[12];
        socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials);
        return MemoryMarshal.Read<int>(credentials);
    }

    private static string DescribeExit(int? exitCode, string when) => exitCode switch
    {
        null => $"The function's worker stopped answering {when}.",
        > SignalExitBase and < SignalExitBase + 65 =>
            $"The function's worker was killed by signal {exitCode - SignalExitBase}"
            + $"{SignalName(exitCode.Value - SignalExitBase)} {when}.",
        _ => $"The function exited with code {exitCode} {when}.",
    };

    private static string SignalName(int signal) => signal switch
    {
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => string.Empty,
    };

    private static string DescribeStop(StopReason reason) => reason switch
    {
        StopReason.Shutdown => "The execution was stopped because the server shut down.",
        StopReason.Retired => "The execution was stopped because the function was retired.",
        StopReason.Cancelled => "The execution was cancelled.",
        _ => "The function's worker was stopped.",
    };

    private static string DescribeStopForLog(StopReason? reason) => reason switch
    {
        StopReason.KeepAlive => "idle longer than the keep-alive",
        StopReason.IdleLimit => "the least recently used of more idle workers than MaxIdleWorkers",
        StopReason.Retired => "the function was retired",
        StopReason.Shutdown => "the server shut down",
        StopReason.Timeout => "an execution timed out",
        StopReason.Cancelled => "an execution was cancelled",
        _ => "it failed or exited",
    };

    private ExecutionOutcome Outcome(
        ExecutionStatus status,
        string? output,
        string? error,
        long startedAt,
        long? peakBytes,
        IReadOnlyList<LogEntry> logs) =>
        Outcome(status, output, error, Time.GetElapsedTime(startedAt), peakBytes, logs);

    private static ExecutionOutcome Outcome(
        ExecutionStatus status,
        string? output,
        string? error,
        TimeSpan duration,
        long? peakBytes,
        IReadOnlyList<LogEntry> logs) =>
        new(
            status,
            output,
            error,
            Math.Round(duration.TotalMilliseconds, 3),
            peakBytes is { } bytes ? Math.Round(bytes / (1024.0 * 1024.0), 2) : null,
            logs);
}

/// <summary>Why a generic worker cannot be given a version.</summary>
/// <param name="Reason">What stood in the way.</param>
/// <param name="AboveMemoryLimit">
/// Whether it already uses more memory than the version may: an expected outcome of a small memory limit, not a fault.
/// </param>
internal sealed record AssignRefusal(string Reason, bool AboveMemoryLimit);

/// <summary>Why a worker was stopped.</summary>
internal enum StopReason
{
    /// <summary>It was idle longer than the keep-alive.</summary>
    KeepAlive,

    /// <summary>It was the least recently used idle worker when there were more than the executor keeps.</summary>
    IdleLimit,

    /// <summary>Its function was retired.</summary>
    Retired,

    /// <summary>The executor shut down.</summary>
    Shutdown,

    /// <summary>An invocation ran past its timeout.</summary>
    Timeout,

    /// <summary>The caller cancelled the invocation.</summary>
    Cancelled,

    /// <summary>It failed to start, died, broke the protocol or lost its streams.</summary>
    Failed,
}
