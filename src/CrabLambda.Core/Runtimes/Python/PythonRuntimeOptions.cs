namespace CrabLambda.Runtimes.Python;

/// <summary>
/// Settings of the built-in Python runtime.
/// </summary>
public sealed class PythonRuntimeOptions
{
    /// <summary>
    /// The Python 3 interpreter that runs functions: an absolute path or a program name looked up on PATH. Default:
    /// the <c>CRABLAMBDA_PYTHON</c> environment variable when set, otherwise <c>python3</c>.
    /// </summary>
    public string? Interpreter { get; set; }
}
