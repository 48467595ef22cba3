using CrabLambda.Execution.Sandbox;

namespace CrabLambda;

/// <summary>
/// Settings of the engine. Validated at start-up; a bad value stops the host with a message naming it.
/// </summary>
public sealed class CrabLambdaOptions
{
    /// <summary>The largest memory limit a function may have, in MiB: 10240.</summary>
    public const int MaxMemoryMb = 10240;

    /// <summary>The largest code accepted, in MiB. Default 10.</summary>
    public int MaxFunctionSizeMb { get; set; } = 10;

    /// <summary>The memory limit of a function that names none, in MiB. Default 128.</summary>
    public int DefaultMemoryMb { get; set; } = 128;

    /// <summary>The time limit of a function that names none, in seconds. Default 30.</summary>
    public int DefaultTimeoutSecs { get; set; } = 30;

    /// <summary>The largest time limit accepted, in seconds, at most 900. Default 300.</summary>
    public int MaxTimeoutSecs { get; set; } = 300;

    /// <summary>Whether functions may open network connections unless they say otherwise. Default false.</summary>
    public bool DefaultNetwork { get; set; }

    /// <summary>How many executions run at once across the server. Default 100.</summary>
    public int MaxConcurrentExecutions { get; set; } = 100;

    /// <summary>
    /// How many invocations may wait for a free slot beyond <see cref="MaxConcurrentExecutions"/>; past that an
    /// invocation is refused with a 429. Default 1000.
    /// </summary>
    public int MaxQueuedExecutions { get; set; } = 1000;

    /// <summary>Executions and their logs older than this many days are deleted. Default 30.</summary>
    public int ExecutionLogRetentionDays { get; set; } = 30;

    /// <summary>How long an idle warm worker is kept before it is stopped. Default 5 minutes.</summary>
    public TimeSpan WorkerKeepAlive { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The most idle warm workers kept across the server, whatever their functions; when one more goes idle, the
    /// least recently used idle worker is stopped. 0 keeps none. Busy workers are bounded by
    /// <see cref="MaxConcurrentExecutions"/>, and pre-started workers by <see cref="PrestartedWorkersPerRuntime"/>.
    /// Default 32: the 32 most recently used workers stay warm (a team's functions, or one function's bursts of up to
    /// 32), and idle interpreters cost at most about 0.5 GiB for Python or 1.4 GiB for Node.js, where without a cap
    /// anyone who may deploy could keep a worker per function alive for the keep-alive.
    /// </summary>
    public int MaxIdleWorkers { get; set; } = 32;

    /// <summary>
    /// How long executions still running when the host begins to stop may take to finish. Those still running then
    /// are stopped, recorded as <c>error</c> saying the server shut down, and answered if their callers still wait.
    /// Deploys whose code is still being compiled get the same time; one not compiled by then stores nothing and
    /// throws <see cref="Functions.ServerStoppingException"/>.
    /// Keep it a few seconds below the host's <c>HostOptions.ShutdownTimeout</c> (30 s unless set), which bounds the
    /// whole stop and after which the web server drops the connections still open. Default 25 s.
    /// </summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// How many generic workers the process executor keeps started ahead for each runtime that supports them (Python
    /// and Node.js), so that a function's first invocation does not wait for an interpreter to start; 0 turns this
    /// off. Each waits with no function, is given to exactly one version and is replaced in the background. Default
    /// 2, so that two first invocations in quick succession both find one ready (a replacement takes as long as any
    /// interpreter start), at the cost of two idle interpreters per runtime.
    /// </summary>
    public int PrestartedWorkersPerRuntime { get; set; } = 2;

    /// <summary>The largest return value accepted from a handler, in MiB. Default 6, as AWS Lambda.</summary>
    public int MaxOutputMb { get; set; } = 6;

    /// <summary>The largest event accepted, in MiB. Default 6, as AWS Lambda.</summary>
    public int MaxEventMb { get; set; } = 6;

    /// <summary>
    /// How much of a single invocation's stdout and stderr is kept, in KiB; the rest is dropped with a note.
    /// Default 1024.
    /// </summary>
    public int MaxLogKbPerExecution { get; set; } = 1024;

    /// <summary>
    /// How many lines of a single invocation's stdout and stderr are kept, whatever their length; the rest is dropped
    /// with a note. Each line is a stored row, so this bounds what a function printing empty lines costs the store.
    /// Default 10000.
    /// </summary>
    public int MaxLogLinesPerExecution { get; set; } = 10_000;

    /// <summary>
    /// How strongly workers are isolated: <see cref="IsolationMode.Auto"/> (the default) uses the strongest isolation
    /// the host gives and says which at start-up; <see cref="IsolationMode.Sandbox"/> stops start-up when the host
    /// cannot sandbox; <see cref="IsolationMode.None"/> runs plain processes.
    /// </summary>
    public IsolationMode Isolation { get; set; } = IsolationMode.Auto;

    /// <summary>
    /// The most processes and threads one worker may have at once, where cgroups enforce it. Default 64: enough for
    /// an interpreter's own threads and a few child processes, and a fork bomb stops there.
    /// </summary>
    public int MaxProcessesPerWorker { get; set; } = 64;

    /// <summary>
    /// Where workers keep code and sockets. Default: a folder under the system's temporary directory.
    /// </summary>
    public string? WorkDirectory { get; set; }

    /// <summary>
    /// Set by an executor whose workers run in containers with interpreters of their own, so that the built-in
    /// runtimes do not look for python3 or node on the server's host.
    /// </summary>
    internal bool WorkersRunInContainers { get; set; }
}
