using CrabLambda.Execution;

namespace CrabLambda.Functions;

/// <summary>
/// Deploys, invokes and inspects functions from C#. The REST API of <c>MapCrabLambda()</c> is a thin layer over this
/// service, so what one can do the other can too, with the same validation and the same errors.
/// </summary>
/// <remarks>
/// Failures are exceptions a caller can act on: <see cref="FunctionValidationException"/> (bad input),
/// <see cref="NotFoundException"/>, <see cref="FunctionConflictException"/> (name taken),
/// <see cref="CodeTooLargeException"/>, <see cref="Runtimes.FunctionCodeException"/> (code that cannot run),
/// <see cref="ExecutionRejectedException"/> (too many executions waiting) and
/// <see cref="ExecutionNotRecordedException"/> (a function ran but the store failed to record it). A store that
/// fails otherwise throws its own exception, such as a <see cref="System.Data.Common.DbException"/>.
/// </remarks>
public interface IFunctionClient
{
    /// <summary>Creates a function; its first version is 1.</summary>
    /// <param name="definition">The function to create.</param>
    /// <param name="cancellationToken">Cancels the deploy.</param>
    /// <exception cref="ServerStoppingException">
    /// The host began to stop and the code was still being prepared (compiled) when its shutdown grace ended; nothing
    /// was stored.
    /// </exception>
    Task<Function> CreateAsync(FunctionDefinition definition, CancellationToken cancellationToken = default);

    /// <summary>Finds a function by name.</summary>
    /// <param name="name">The function's name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="NotFoundException">There is no such function.</exception>
    Task<Function> GetAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Lists functions by name.</summary>
    /// <param name="page">The page, from 1.</param>
    /// <param name="limit">The page size, 1–100.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<ListPage<Function>> ListAsync(int page = 1, int limit = 10, CancellationToken cancellationToken = default);

    /// <summary>
    /// Changes a function. A change that alters something makes a new version and makes it current; one that
    /// alters nothing returns the function as it is. The fields not in <paramref name="update"/> keep their values
    /// from the version current when the new one is stored, so concurrent changes never undo each other.
    /// </summary>
    /// <param name="name">The function's name.</param>
    /// <param name="update">The fields to change.</param>
    /// <param name="cancellationToken">Cancels the deploy.</param>
    /// <exception cref="ServerStoppingException">
    /// The host began to stop and the new code was still being prepared (compiled) when its shutdown grace ended; no
    /// version was stored.
    /// </exception>
    Task<Function> UpdateAsync(string name, FunctionUpdate update, CancellationToken cancellationToken = default);

    /// <summary>Deletes a function with its versions, executions and logs, and stops its workers.</summary>
    /// <param name="name">The function's name.</param>
    /// <param name="cancellationToken">Cancels the delete.</param>
    /// <exception cref="NotFoundException">There is no such function.</exception>
    Task DeleteAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Lists a function's versions, newest first.</summary>
    /// <param name="name">The function's name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<IReadOnlyList<FunctionVersion>> ListVersionsAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Finds one version of a function, with its code.</summary>
    /// <param name="name">The function's name.</param>
    /// <param name="version">The version number.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<FunctionVersion> GetVersionAsync(string name, int version, CancellationToken cancellationToken = default);

    /// <summary>Makes an earlier version current again.</summary>
    /// <param name="name">The function's name.</param>
    /// <param name="version">The version to make current.</param>
    /// <param name="cancellationToken">Cancels the change.</param>
    Task<Function> RollbackAsync(string name, int version, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs a function and records the execution. Whatever the function did, the result says how it went; the
    /// method throws when nothing ran, or with <see cref="ExecutionNotRecordedException"/> when the function ran but
    /// its execution could not be stored, since a result is returned only for a recorded execution.
    /// </summary>
    /// <param name="name">The function's name.</param>
    /// <param name="eventJson">The event as UTF-8 JSON; empty means <c>{}</c>.</param>
    /// <param name="version">The version to run, or <see langword="null"/> for the current one.</param>
    /// <param name="cancellationToken">Cancels the invocation.</param>
    Task<InvocationResult> InvokeAsync(
        string name,
        ReadOnlyMemory<byte> eventJson,
        int? version = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists a page of a function's executions, newest first. A page ends at <paramref name="limit"/> executions,
    /// or sooner once the executions in it hold 16 Mi characters of input, output and error together (the one that
    /// passes that is still in it), so a page of large events stays a size a client can take. For the page after,
    /// pass the last execution's id as <paramref name="before"/>; an empty page is the end of the history.
    /// </summary>
    /// <param name="name">The function's name.</param>
    /// <param name="status">Only this status, or all.</param>
    /// <param name="limit">The most to return, 1–1000.</param>
    /// <param name="before">Only executions older than the one with this id, or from the newest.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<IReadOnlyList<Execution.Execution>> ListExecutionsAsync(
        string name,
        ExecutionStatus? status = null,
        int limit = 50,
        Guid? before = null,
        CancellationToken cancellationToken = default);

    /// <summary>Finds one execution.</summary>
    /// <param name="id">The execution id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<Execution.Execution> GetExecutionAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Returns an execution's log lines in order.</summary>
    /// <param name="id">The execution id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<IReadOnlyList<ExecutionLogLine>> GetLogsAsync(Guid id, CancellationToken cancellationToken = default);
}

/// <summary>
/// The answer to an invocation, as the REST API returns it.
/// </summary>
/// <param name="ExecutionId">The recorded execution.</param>
/// <param name="Status">How it went.</param>
/// <param name="Output">The return value as JSON text, when it succeeded.</param>
/// <param name="Error">The message and trace, when it did not.</param>
/// <param name="DurationMs">The time it ran, in milliseconds.</param>
/// <param name="Version">The version that ran.</param>
/// <param name="MemoryUsedMb">Its peak memory, when measured.</param>
public sealed record InvocationResult(
    Guid ExecutionId,
    ExecutionStatus Status,
    string? Output,
    string? Error,
    double DurationMs,
    int Version,
    double? MemoryUsedMb);
