namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// How strongly the process executor isolates workers (the server's <c>ISOLATION</c> setting).
/// </summary>
public enum IsolationMode
{
    /// <summary>The strongest isolation the host can give, said at start-up.</summary>
    Auto,

    /// <summary>
    /// The full sandbox (bubblewrap namespaces and cgroup limits); start-up fails if the host cannot give it.
    /// </summary>
    Sandbox,

    /// <summary>Plain processes with a clean environment and their own process group, nothing more.</summary>
    None,
}
