using CrabLambda.Execution;
using CrabLambda.Functions;

namespace CrabLambda.Storage;

/// <summary>
/// Where functions, their versions, executions and log lines live. CrabLambda ships SQLite (<c>AddSqlite</c>) and
/// PostgreSQL (<c>AddPostgres</c>) implementations; a host may register its own.
/// </summary>
/// <remarks>
/// Implementations must be safe for concurrent use, and must add versions atomically: of two
/// <see cref="AddVersionAsync"/> calls on one function based on the same current version, one adds the next version
/// and the other adds nothing, even from two servers on one database. Deleting a function deletes its versions,
/// executions and log lines.
/// </remarks>
public interface IFunctionStore
{
    /// <summary>
    /// Creates or upgrades the schema. Called once at start-up, before any other member.
    /// </summary>
    /// <param name="cancellationToken">Cancels the migration.</param>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Checks that the database answers, for the readiness probe.
    /// </summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    Task<bool> PingAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stores a new function with its first version.
    /// </summary>
    /// <param name="function">The function, whose <see cref="Function.CurrentVersion"/> is 1.</param>
    /// <param name="firstVersion">Version 1.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <exception cref="FunctionConflictException">The name is taken.</exception>
    Task CreateFunctionAsync(Function function, FunctionVersion firstVersion, CancellationToken cancellationToken);

    /// <summary>Finds a function by name.</summary>
    /// <param name="name">The function's name.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<Function?> GetFunctionAsync(string name, CancellationToken cancellationToken);

    /// <summary>Lists functions ordered by name.</summary>
    /// <param name="page">The page, from 1.</param>
    /// <param name="limit">The page size.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<ListPage<Function>> ListFunctionsAsync(int page, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Adds a version with the next free number and makes it current, copying its configuration onto the function,
    /// provided the function's current version is still the one the draft was made from.
    /// </summary>
    /// <param name="functionId">The function.</param>
    /// <param name="basedOn">
    /// The current version the draft was made from. When the function's current version is no longer this one,
    /// because another deploy or a rollback came first, nothing is stored, so that the caller can make its draft
    /// again from what is current now instead of undoing the other change.
    /// </param>
    /// <param name="draft">
    /// The new version; its <see cref="FunctionVersion.Version"/> is ignored and assigned here.
    /// </param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>
    /// The function as it is now and the stored version, or <see langword="null"/> when the function is gone or its
    /// current version is no longer <paramref name="basedOn"/>.
    /// </returns>
    Task<(Function Function, FunctionVersion Version)?> AddVersionAsync(
        Guid functionId,
        int basedOn,
        FunctionVersion draft,
        CancellationToken cancellationToken);

    /// <summary>
    /// Makes an existing version current again, copying its configuration onto the function.
    /// </summary>
    /// <param name="functionId">The function.</param>
    /// <param name="version">The version to make current.</param>
    /// <param name="updatedAt">The new <see cref="Function.UpdatedAt"/>.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>
    /// The function as it is now, or <see langword="null"/> when the function or the version is gone.
    /// </returns>
    Task<Function?> SetCurrentVersionAsync(
        Guid functionId,
        int version,
        DateTimeOffset updatedAt,
        CancellationToken cancellationToken);

    /// <summary>Deletes a function with its versions, executions and log lines.</summary>
    /// <param name="name">The function's name.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>Whether a function was deleted.</returns>
    Task<bool> DeleteFunctionAsync(string name, CancellationToken cancellationToken);

    /// <summary>Lists a function's versions, newest first.</summary>
    /// <param name="functionId">The function.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<IReadOnlyList<FunctionVersion>> ListVersionsAsync(Guid functionId, CancellationToken cancellationToken);

    /// <summary>Finds one version.</summary>
    /// <param name="functionId">The function.</param>
    /// <param name="version">The version number.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<FunctionVersion?> GetVersionAsync(Guid functionId, int version, CancellationToken cancellationToken);

    /// <summary>
    /// Writes executions with their log lines in one transaction; when the returned task completes, they are
    /// committed. Entries whose function no longer exists are dropped, not failed.
    /// </summary>
    /// <param name="entries">The executions to write.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The ids of the executions that were written.</returns>
    Task<IReadOnlySet<Guid>> AddExecutionsAsync(
        IReadOnlyList<ExecutionEntry> entries,
        CancellationToken cancellationToken);

    /// <summary>Finds one execution.</summary>
    /// <param name="id">The execution id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<Execution.Execution?> GetExecutionAsync(Guid id, CancellationToken cancellationToken);

    /// <summary>
    /// Reads a function's executions newest first (by id, which sorts by time), one at a time, so that the caller can
    /// stop early: a page of history ends at a limit of text as well as of count.
    /// </summary>
    /// <param name="functionId">The function.</param>
    /// <param name="status">Only executions with this status, or all when <see langword="null"/>.</param>
    /// <param name="before">Only executions with an id below this one, or from the newest when
    /// <see langword="null"/>; the id need not be one that exists.</param>
    /// <param name="limit">The most to read.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    IAsyncEnumerable<Execution.Execution> ListExecutionsAsync(
        Guid functionId,
        ExecutionStatus? status,
        Guid? before,
        int limit,
        CancellationToken cancellationToken);

    /// <summary>Returns an execution's log lines in the order they were written.</summary>
    /// <param name="executionId">The execution.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    Task<IReadOnlyList<ExecutionLogLine>> GetLogsAsync(Guid executionId, CancellationToken cancellationToken);

    /// <summary>Deletes executions, with their log lines, that started before a moment.</summary>
    /// <param name="cutoff">Executions with <see cref="Execution.Execution.ExecutedAt"/> before this go.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>How many executions were deleted.</returns>
    Task<int> DeleteExecutionsBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
