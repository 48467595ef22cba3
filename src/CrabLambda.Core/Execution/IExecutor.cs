using CrabLambda.Functions;
using CrabLambda.Runtimes;

namespace CrabLambda.Execution;

/// <summary>
/// Runs function versions. The built-in executor keeps warm worker processes; a host may replace it.
/// </summary>
/// <remarks>
/// An implementation must never throw for something the function did: a crash, a timeout or a memory kill is an
/// <see cref="ExecutionOutcome"/> with its status. It throws only when it cannot run anything at all.
/// </remarks>
public interface IExecutor
{
    /// <summary>
    /// Runs one invocation and returns how it went, with the log lines it wrote.
    /// </summary>
    /// <param name="request">What to run and with which event.</param>
    /// <param name="cancellationToken">Cancels the invocation; the worker is then stopped.</param>
    Task<ExecutionOutcome> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Stops the warm workers of a function, for example after it was deleted.
    /// </summary>
    /// <param name="functionId">The function whose workers to stop.</param>
    Task RetireAsync(Guid functionId);
}

/// <summary>
/// One invocation to run.
/// </summary>
/// <param name="ExecutionId">The id the execution will be recorded under.</param>
/// <param name="FunctionName">The function's name, passed to the handler's context.</param>
/// <param name="Version">The exact version to run.</param>
/// <param name="Runtime">The runtime of that version.</param>
/// <param name="Event">The event as UTF-8 JSON.</param>
public sealed record ExecutionRequest(
    Guid ExecutionId,
    string FunctionName,
    FunctionVersion Version,
    IRuntime Runtime,
    ReadOnlyMemory<byte> Event);

/// <summary>
/// How an invocation went.
/// </summary>
/// <param name="Status">How it ended.</param>
/// <param name="Output">The return value as JSON text, when it succeeded.</param>
/// <param name="Error">The message and trace, when it did not.</param>
/// <param name="DurationMs">The time spent running, in milliseconds.</param>
/// <param name="MemoryUsedMb">The peak memory of the invocation, if the executor could measure it.</param>
/// <param name="Logs">What the function wrote, in order.</param>
public sealed record ExecutionOutcome(
    ExecutionStatus Status,
    string? Output,
    string? Error,
    double DurationMs,
    double? MemoryUsedMb,
    IReadOnlyList<LogEntry> Logs);

/// <summary>
/// A line a function wrote, before it is attached to a stored execution.
/// </summary>
/// <param name="Level"><c>info</c> for stdout, <c>error</c> for stderr.</param>
/// <param name="Message">The text, without its line break.</param>
/// <param name="Timestamp">When the platform read it.</param>
public sealed record LogEntry(string Level, string Message, DateTimeOffset Timestamp);
