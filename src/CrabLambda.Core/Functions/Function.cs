namespace CrabLambda.Functions;

/// <summary>
/// A deployed function with the configuration of its current version.
/// </summary>
/// <param name="Id">The function's identifier.</param>
/// <param name="Name">The unique name used in routes.</param>
/// <param name="Runtime">The canonical runtime name, for example <c>python</c>.</param>
/// <param name="Handler">The entry point inside the code.</param>
/// <param name="MemoryMb">The memory limit of the current version.</param>
/// <param name="TimeoutSecs">The time limit of the current version.</param>
/// <param name="Network">Whether the current version may open network connections.</param>
/// <param name="CurrentVersion">The version that an invocation without a version runs.</param>
/// <param name="CreatedAt">When the function was created.</param>
/// <param name="UpdatedAt">When the function last changed, by update or rollback.</param>
public sealed record Function(
    Guid Id,
    string Name,
    string Runtime,
    string Handler,
    int MemoryMb,
    int TimeoutSecs,
    bool Network,
    int CurrentVersion,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);
