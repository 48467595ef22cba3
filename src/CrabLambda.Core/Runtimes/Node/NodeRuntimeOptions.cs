namespace CrabLambda.Runtimes.Node;

/// <summary>
/// Settings of the built-in Node.js runtime.
/// </summary>
public sealed class NodeRuntimeOptions
{
    /// <summary>
    /// The Node.js program that runs functions: an absolute path or a program name looked up on PATH. Default: the
    /// <c>CRABLAMBDA_NODE</c> environment variable when set, otherwise <c>node</c>.
    /// </summary>
    public string? Interpreter { get; set; }
}
