namespace CrabLambda.Functions;

/// <summary>
/// What a caller asks for when creating a function. Unset limits take the configured defaults.
/// </summary>
/// <param name="Name">
/// The unique name: 1–64 characters of <c>A-Z a-z 0-9 - _</c>, starting with a letter or digit.
/// </param>
/// <param name="Runtime">The runtime name or one of its aliases.</param>
/// <param name="Code">The source code.</param>
/// <param name="Handler">The entry point inside the code.</param>
/// <param name="MemoryMb">The memory limit, or <see langword="null"/> for the default.</param>
/// <param name="TimeoutSecs">The time limit, or <see langword="null"/> for the default.</param>
/// <param name="Network">Whether network is allowed, or <see langword="null"/> for the default.</param>
public sealed record FunctionDefinition(
    string? Name,
    string? Runtime,
    string? Code,
    string? Handler,
    int? MemoryMb = null,
    int? TimeoutSecs = null,
    bool? Network = null);

/// <summary>
/// A change to a function. Every field is optional; a change that alters nothing makes no new version.
/// </summary>
/// <param name="Code">New source code.</param>
/// <param name="Handler">New entry point.</param>
/// <param name="MemoryMb">New memory limit.</param>
/// <param name="TimeoutSecs">New time limit.</param>
/// <param name="Network">New network permission.</param>
public sealed record FunctionUpdate(
    string? Code = null,
    string? Handler = null,
    int? MemoryMb = null,
    int? TimeoutSecs = null,
    bool? Network = null);
