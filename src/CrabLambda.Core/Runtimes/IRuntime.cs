using CrabLambda.Functions;

namespace CrabLambda.Runtimes;

/// <summary>
/// A language that functions can be written in. Register one with <c>AddRuntime&lt;T&gt;()</c>; built-in and
/// plug-in runtimes are treated alike.
/// </summary>
/// <remarks>
/// A runtime does not run code itself. It checks code at deploy time and describes a worker program that the
/// executor starts and talks to over the worker protocol (see <see cref="WorkerProtocol"/>): the worker connects to
/// the Unix socket named by the <c>CRABLAMBDA_SOCKET</c> environment variable, loads the function once and then serves
/// one invocation at a time for as long as the executor keeps it. A runtime whose worker can also start before it is
/// told which function to load opts in with <see cref="SupportsGenericWorkers"/>.
/// </remarks>
public interface IRuntime
{
    /// <summary>The canonical name stored with functions, for example <c>python</c>.</summary>
    string Name { get; }

    /// <summary>Other names accepted at deploy time, for example <c>nodejs</c> for <c>node</c>.</summary>
    IReadOnlyCollection<string> Aliases { get; }

    /// <summary>
    /// Checks a handler name; returns a message a person can act on, or <see langword="null"/> when it is valid.
    /// </summary>
    /// <param name="handler">The handler as the caller gave it.</param>
    string? ValidateHandler(string handler);

    /// <summary>
    /// Prepares a version at deploy time, before it is stored: a compiled language compiles here.
    /// </summary>
    /// <param name="version">The version about to be stored.</param>
    /// <param name="cancellationToken">Cancels the preparation.</param>
    /// <exception cref="FunctionCodeException">The code cannot run; the deploy is refused with a 422.</exception>
    Task PrepareAsync(FunctionVersion version, CancellationToken cancellationToken);

    /// <summary>
    /// Describes the worker program for a version. Called when the executor starts a worker, so it may rebuild
    /// anything a cache lost.
    /// </summary>
    /// <param name="version">The version to run.</param>
    /// <param name="codeDirectory">
    /// A directory the executor owns for this version, empty on first use, where the runtime may write the code.
    /// The worker can read it; it survives until the version's workers are retired.
    /// </param>
    /// <param name="cancellationToken">Cancels the preparation.</param>
    Task<WorkerLaunch> GetLaunchAsync(
        FunctionVersion version,
        string codeDirectory,
        CancellationToken cancellationToken);

    /// <summary>
    /// Whether this runtime's worker program can start without a function and load one when a <c>load</c> message
    /// names it (see <c>docs/worker-protocol.md</c>). The executor then keeps such generic workers started ahead, so
    /// that a function's first invocation does not wait for an interpreter to start. Default <see langword="false"/>:
    /// every worker is started for its version with <see cref="GetLaunchAsync"/>.
    /// </summary>
    bool SupportsGenericWorkers => false;

    /// <summary>
    /// Describes the worker program started without a function: it connects to the socket and waits for a
    /// <c>load</c> message. Called only when <see cref="SupportsGenericWorkers"/> is true. Nothing in it may depend on
    /// a function, since the worker may be given any version of this runtime.
    /// </summary>
    /// <param name="cancellationToken">Cancels the preparation.</param>
    Task<WorkerLaunch> GetGenericLaunchAsync(CancellationToken cancellationToken) =>
        throw new NotSupportedException($"The {Name} runtime does not start generic workers.");

    /// <summary>
    /// Writes a version's code for a generic worker that is about to load it, and says what its <c>load</c> message
    /// names. Called only when <see cref="SupportsGenericWorkers"/> is true.
    /// </summary>
    /// <param name="version">The version the worker is given.</param>
    /// <param name="codeDirectory">
    /// The worker's own code folder, empty, where the runtime writes the code. The worker can read it; it is removed
    /// with the worker.
    /// </param>
    /// <param name="cancellationToken">Cancels the preparation.</param>
    /// <exception cref="FunctionCodeException">The version cannot run; its invocation is an <c>error</c>.</exception>
    Task<WorkerLoad> GetLoadAsync(FunctionVersion version, string codeDirectory, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"The {Name} runtime does not start generic workers.");
}

/// <summary>
/// What a generic worker is told to load: the <c>code_path</c> and <c>handler</c> of its <c>load</c> message.
/// </summary>
/// <param name="CodePath">
/// The file to load, in the code folder the runtime was given; the executor rewrites it to where the worker sees it.
/// </param>
/// <param name="Handler">The handler, as the version names it.</param>
public sealed record WorkerLoad(string CodePath, string Handler);

/// <summary>
/// The program an executor starts as a worker.
/// </summary>
/// <param name="Executable">An absolute path to the program.</param>
/// <param name="Arguments">Its arguments.</param>
public sealed record WorkerLaunch(string Executable, IReadOnlyList<string> Arguments)
{
    /// <summary>
    /// Environment variables for the worker beyond the executor's clean base set. Never put server secrets here.
    /// </summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Host paths the worker must be able to read besides the code directory (the interpreter's installation, for
    /// example). A sandbox makes these, and nothing else of the host, visible read-only.
    /// </summary>
    public IReadOnlyList<string> ReadOnlyPaths { get; init; } = [];

    /// <summary>
    /// The program to run instead of <see cref="Executable"/> when the worker runs in a container: a name the image
    /// resolves on its own <c>PATH</c> (<c>python3</c>, say), for an interpreter the image provides. Leave it
    /// <see langword="null"/> when <see cref="Executable"/> is a self-contained program, such as a statically linked
    /// binary, that runs in any image once it is mounted there.
    /// </summary>
    /// <remarks>
    /// Arguments that are paths of existing host files or folders are mounted into the container read-only and
    /// rewritten to where they appear there; the code directory is always mounted.
    /// </remarks>
    public string? ContainerExecutable { get; init; }
}

/// <summary>
/// The code of a deploy cannot run: a compile error, for example. Reported as a 422 with the message as detail.
/// </summary>
/// <param name="message">What is wrong, with the compiler's diagnostics where there are any.</param>
public sealed class FunctionCodeException(string message) : Exception(message);

/// <summary>
/// A runtime cannot run functions on this host right now: its interpreter is missing or broken, say. Reported as a
/// 503 with the message as detail; nothing is recorded, since the function never ran.
/// </summary>
/// <param name="message">What is missing and how to provide it.</param>
public sealed class RuntimeUnavailableException(string message) : InvalidOperationException(message);
