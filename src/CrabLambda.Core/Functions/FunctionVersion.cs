namespace CrabLambda.Functions;

/// <summary>
/// One immutable deployment of a function: everything needed to run it again exactly as deployed.
/// </summary>
/// <param name="FunctionId">The function this version belongs to.</param>
/// <param name="Version">The version number, 1, 2, 3 … per function.</param>
/// <param name="Code">The source code.</param>
/// <param name="CodeHash">The SHA-256 of the code in UTF-8, lowercase hex.</param>
/// <param name="Runtime">The canonical runtime name.</param>
/// <param name="Handler">The entry point inside the code.</param>
/// <param name="MemoryMb">The memory limit.</param>
/// <param name="TimeoutSecs">The time limit.</param>
/// <param name="Network">Whether the function may open network connections.</param>
/// <param name="DeployedAt">When this version was made.</param>
public sealed record FunctionVersion(
    Guid FunctionId,
    int Version,
    string Code,
    string CodeHash,
    string Runtime,
    string Handler,
    int MemoryMb,
    int TimeoutSecs,
    bool Network,
    DateTimeOffset DeployedAt);
