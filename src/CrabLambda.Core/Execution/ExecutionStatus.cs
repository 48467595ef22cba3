namespace CrabLambda.Execution;

/// <summary>
/// How an execution ended.
/// </summary>
public enum ExecutionStatus
{
    /// <summary>The handler returned a JSON value.</summary>
    Success,

    /// <summary>The handler raised, exited, or returned something that is not JSON.</summary>
    Error,

    /// <summary>The handler ran past its time limit and was stopped.</summary>
    Timeout,

    /// <summary>The function went past its memory limit.</summary>
    Oom,
}

/// <summary>
/// Converts <see cref="ExecutionStatus"/> to and from the lowercase words of the API and the database.
/// </summary>
public static class ExecutionStatusNames
{
    /// <summary>Returns the lowercase name: <c>success</c>, <c>error</c>, <c>timeout</c> or <c>oom</c>.</summary>
    public static string ToName(this ExecutionStatus status) => status switch
    {
        ExecutionStatus.Success => "success",
        ExecutionStatus.Error => "error",
        ExecutionStatus.Timeout => "timeout",
        ExecutionStatus.Oom => "oom",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    /// <summary>Parses a lowercase status name; returns <see langword="false"/> for anything else.</summary>
    public static bool TryParse(string? name, out ExecutionStatus status)
    {
        switch (name)
        {
            case "success":
                status = ExecutionStatus.Success;
                return true;
            case "error":
                status = ExecutionStatus.Error;
                return true;
            case "timeout":
                status = ExecutionStatus.Timeout;
                return true;
            case "oom":
                status = ExecutionStatus.Oom;
                return true;
            default:
                status = default;
                return false;
        }
    }
}
