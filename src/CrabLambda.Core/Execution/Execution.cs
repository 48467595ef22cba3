namespace CrabLambda.Execution;

/// <summary>
/// The record of one invocation.
/// </summary>
/// <param name="Id">The execution's identifier, a version 7 UUID so that ids sort by time.</param>
/// <param name="FunctionId">The function that ran.</param>
/// <param name="FunctionName">The function's name at the time it ran.</param>
/// <param name="Version">The version that ran.</param>
/// <param name="Status">How it ended.</param>
/// <param name="Input">The event, as JSON text.</param>
/// <param name="Output">The handler's return value as JSON text, when it succeeded.</param>
/// <param name="Error">The error message and trace, when it did not.</param>
/// <param name="DurationMs">The time the invocation took inside the executor, in milliseconds.</param>
/// <param name="MemoryUsedMb">The peak memory of the invocation as the platform measured it, if it could.</param>
/// <param name="ExecutedAt">When the invocation started.</param>
public sealed record Execution(
    Guid Id,
    Guid FunctionId,
    string FunctionName,
    int Version,
    ExecutionStatus Status,
    string Input,
    string? Output,
    string? Error,
    double DurationMs,
    double? MemoryUsedMb,
    DateTimeOffset ExecutedAt);

/// <summary>
/// One line a function wrote to stdout (<c>info</c>) or stderr (<c>error</c>).
/// </summary>
/// <param name="Id">The line's identifier.</param>
/// <param name="ExecutionId">The execution that wrote it.</param>
/// <param name="Sequence">The line's position among the execution's lines, from 0.</param>
/// <param name="Level">The level: <c>info</c> for stdout, <c>error</c> for stderr.</param>
/// <param name="Message">The text, without its line break.</param>
/// <param name="Timestamp">When the platform read the line.</param>
public sealed record ExecutionLogLine(
    Guid Id,
    Guid ExecutionId,
    int Sequence,
    string Level,
    string Message,
    DateTimeOffset Timestamp);

/// <summary>
/// An execution together with its log lines, as written to the store in one go.
/// </summary>
/// <param name="Execution">The execution record.</param>
/// <param name="Logs">Its log lines in the order the function wrote them.</param>
public sealed record ExecutionEntry(Execution Execution, IReadOnlyList<ExecutionLogLine> Logs);
