using CrabLambda.Functions;
using CrabLambda.Runtimes;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Starts worker processes. This is the one place that decides how a worker is started, measured and killed, so
/// that a sandbox can wrap the launch without touching the rest of the executor.
/// </summary>
internal interface IWorkerLauncher
{
    /// <summary>
    /// Starts a worker with stdin closed and stdout and stderr readable by the caller.
    /// </summary>
    /// <param name="startInfo">What to start and with which environment.</param>
    /// <param name="cancellationToken">Cancels the start; nothing is left running then.</param>
    /// <exception cref="InvalidOperationException">The host cannot start workers at all.</exception>
    Task<IWorkerProcess> StartAsync(WorkerStartInfo startInfo, CancellationToken cancellationToken);

    /// <summary>
    /// Whether this launcher can start generic workers (<see cref="StartGenericAsync"/>) and later give one the
    /// limits of the version it loads (<see cref="IWorkerProcess.AssignVersion"/>). Default false.
    /// </summary>
    bool CanStartGeneric => false;

    /// <summary>
    /// Starts a worker that has no function yet, isolated as a worker of a version is, with the limits of
    /// <see cref="GenericWorkerStartInfo.MemoryMb"/> until it is given a version.
    /// </summary>
    /// <param name="startInfo">What to start and with which environment.</param>
    /// <param name="cancellationToken">Cancels the start; nothing is left running then.</param>
    Task<IWorkerProcess> StartGenericAsync(GenericWorkerStartInfo startInfo, CancellationToken cancellationToken) =>
        throw new NotSupportedException("This launcher cannot start generic workers.");
}

/// <summary>
/// Everything a launcher needs to start one worker.
/// </summary>
/// <param name="Launch">The program and arguments the runtime asked for.</param>
/// <param name="Version">The version the worker runs, with its memory limit and network setting.</param>
/// <param name="CodeDirectory">The version's code, readable by the worker; also its working directory.</param>
/// <param name="PrivateDirectory">A folder only this worker uses, its HOME and TMPDIR.</param>
/// <param name="Environment">The complete environment of the worker; nothing else is inherited.</param>
internal sealed record WorkerStartInfo(
    WorkerLaunch Launch,
    FunctionVersion Version,
    string CodeDirectory,
    string PrivateDirectory,
    IReadOnlyDictionary<string, string> Environment);

/// <summary>
/// Everything a launcher needs to start one generic worker, which loads its function later.
/// </summary>
/// <param name="Launch">The runtime's generic worker program.</param>
/// <param name="MemoryMb">The memory limit, and the CPU share that follows it, until the worker gets a version.</param>
/// <param name="Network">
/// Whether the worker keeps the host's network; fixed for its life, so it may only be given versions that match.
/// </param>
/// <param name="CodeDirectory">
/// The worker's own code folder, empty at the start; the version's code is written into it before the worker loads it.
/// </param>
/// <param name="PrivateDirectory">A folder only this worker uses, its HOME and TMPDIR.</param>
/// <param name="Environment">The complete environment of the worker; nothing else is inherited.</param>
internal sealed record GenericWorkerStartInfo(
    WorkerLaunch Launch,
    int MemoryMb,
    bool Network,
    string CodeDirectory,
    string PrivateDirectory,
    IReadOnlyDictionary<string, string> Environment);

/// <summary>
/// A started worker process and everything it started in turn. Disposing it kills what is left and releases what
/// the launcher made for it; a second dispose does nothing.
/// </summary>
internal interface IWorkerProcess : IAsyncDisposable
{
    /// <summary>The worker's process id, as the host sees it.</summary>
    int Id { get; }

    /// <summary>The worker's stdout, read as raw bytes.</summary>
    Stream StandardOutput { get; }

    /// <summary>The worker's stderr, read as raw bytes.</summary>
    Stream StandardError { get; }

    /// <summary>Completes with the exit code when the worker process exited (128 + n for a signal n).</summary>
    Task<int> Exited { get; }

    /// <summary>Whether the process <paramref name="pid"/> (a socket peer) is this worker or one it started.</summary>
    bool Owns(int pid);

    /// <summary>Kills the worker and every process it started. Safe to call more than once.</summary>
    void Kill();

    /// <summary>Starts a new peak-memory measurement, before an invocation.</summary>
    void ResetPeakMemory();

    /// <summary>The peak memory since the last reset, in bytes, or null when it cannot be measured.</summary>
    long? ReadPeakMemoryBytes();

    /// <summary>
    /// A counter that grows when the kernel kills a process for lack of memory in a scope covering this worker, or -1
    /// when it cannot tell.
    /// </summary>
    long ReadOomKillCount();

    /// <summary>
    /// Whether the worker has a memory control group of its own, so that a rise of <see cref="ReadOomKillCount"/>
    /// means the kernel killed one of its processes for going past the function's memory limit.
    /// </summary>
    bool HasOwnMemoryGroup { get; }

    /// <summary>
    /// A counter that grows when the worker could not start a process because it was at its process limit, or -1
    /// when there is no such limit.
    /// </summary>
    long ReadProcessLimitHits();

    /// <summary>
    /// Gives a generic worker the limits of the version it is about to load and lets it read the code written into
    /// its code folder since it started. Returns <paramref name="codePath"/> as the worker sees it.
    /// </summary>
    /// <param name="version">The version; its network setting must be the one the worker was started with.</param>
    /// <param name="codePath">The code file, a host path in the worker's code folder.</param>
    /// <exception cref="IOException">A limit could not be set; the worker must not be given the version.</exception>
    /// <exception cref="MemoryLimitBelowUsageException">
    /// The worker already uses more memory than the version may; it must not be given the version.
    /// </exception>
    string AssignVersion(FunctionVersion version, string codePath) =>
        throw new NotSupportedException("This worker was not started as a generic worker.");
}

/// <summary>
/// A launcher could not start this worker, for a reason a person can act on (an image that is missing, say). The
/// invocation is recorded as an <c>error</c> with the message, and the next invocation tries again.
/// </summary>
/// <param name="message">What went wrong and what to do about it.</param>
/// <param name="innerException">The failure behind it, if any.</param>
internal sealed class WorkerStartException(string message, Exception? innerException = null)
    : Exception(message, innerException);

/// <summary>
/// A generic worker already uses more memory than the version it was to be given may use, so that the version's limit
/// cannot be set on it (cgroup v1 refuses a memory limit below the usage). An ordinary outcome for a small limit: the
/// worker is stopped and the version starts a worker of its own.
/// </summary>
/// <param name="message">What was refused.</param>
/// <param name="innerException">The kernel's refusal.</param>
internal sealed class MemoryLimitBelowUsageException(string message, Exception? innerException = null)
    : IOException(message, innerException);
