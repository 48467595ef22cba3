namespace CrabLambda.Functions;

/// <summary>
/// Input that CrabLambda refuses before changing anything. Reported as a 400 naming each bad field.
/// </summary>
/// <param name="errors">The bad fields and what is wrong with each.</param>
public sealed class FunctionValidationException(IReadOnlyDictionary<string, string[]> errors)
    : Exception("The request is invalid: " + string.Join("; ", errors.SelectMany(e => e.Value)))
{
    /// <summary>The bad fields and what is wrong with each.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
}

/// <summary>A function, version or execution that does not exist. Reported as a 404.</summary>
/// <param name="message">What was not found.</param>
public sealed class NotFoundException(string message) : Exception(message);

/// <summary>A function name that is already taken. Reported as a 409.</summary>
/// <param name="name">The name.</param>
public sealed class FunctionConflictException(string name)
    : Exception($"A function named '{name}' already exists.")
{
    /// <summary>The name that is taken.</summary>
    public string Name { get; } = name;
}

/// <summary>Code larger than the configured maximum. Reported as a 413.</summary>
/// <param name="message">The size and the limit.</param>
public sealed class CodeTooLargeException(string message) : Exception(message);

/// <summary>
/// The server is running as many executions as it may and its queue is full. Reported as a 429.
/// </summary>
/// <param name="message">What limit was reached.</param>
public sealed class ExecutionRejectedException(string message) : Exception(message);

/// <summary>
/// The server is shutting down and did not finish the request: an invocation still waiting for a slot, which started
/// no execution and recorded nothing, or a deploy whose code was still being prepared (compiled) when the shutdown
/// grace ended, which stored nothing. Reported as a 503.
/// </summary>
/// <param name="message">What happened and what to do.</param>
public sealed class ServerStoppingException(string message) : Exception(message);

/// <summary>
/// A function ran, but its execution could not be recorded (the store failed), so no result is given for it: an
/// invocation is answered only once its record is committed. A retry runs the function again. Reported as a 503
/// when the store is unreachable or busy, else as a 500.
/// </summary>
/// <param name="message">Which function ran and why its execution was not recorded.</param>
/// <param name="innerException">The store's failure.</param>
public sealed class ExecutionNotRecordedException(string message, Exception innerException)
    : Exception(message, innerException);
