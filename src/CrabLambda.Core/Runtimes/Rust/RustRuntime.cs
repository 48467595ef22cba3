using System.Collections.Frozen;
using System.Text.RegularExpressions;
using CrabLambda.Execution.Process;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Runs functions written in Rust. The code is compiled at deploy time into a worker program, linked with the
/// <c>crablambda</c> crate that speaks the worker protocol; invoking starts that program and never compiles.
/// </summary>
internal sealed partial class RustRuntime(RustCompiler compiler) : IRuntime
{
    /// <summary>The name the worker binary gets in a version's code folder.</summary>
    internal const string WorkerFileName = "worker";

    private static readonly FrozenSet<string> _keywords = FrozenSet.ToFrozenSet(
    [
        "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl",
        "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static",
        "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
        "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual",
        "yield", "try",
    ], StringComparer.Ordinal);

    public string Name => "rust";

    public IReadOnlyCollection<string> Aliases => [];

    public string? ValidateHandler(string handler)
    {
        if (string.IsNullOrEmpty(handler) || handler == "_" || !IdentifierPattern().IsMatch(handler))
        {
            return "The handler must be the name of a Rust function: letters, digits and underscores, not starting " +
                "with a digit, for example 'handler'.";
        }

        if (_keywords.Contains(handler))
        {
            return $"The handler '{handler}' is a Rust keyword; name the function differently.";
        }

        if (handler == "main" || handler.StartsWith("__crablambda", StringComparison.Ordinal))
        {
            return $"The handler cannot be named '{handler}': the Rust runtime uses that name itself.";
        }

        return null;
    }

    public Task PrepareAsync(Functions.FunctionVersion version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);

        return compiler.BuildAsync(new RustProgram(version.Code, version.Handler), cancellationToken);
    }

    public async Task<WorkerLaunch> GetLaunchAsync(
        Functions.FunctionVersion version,
        string codeDirectory,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentException.ThrowIfNullOrEmpty(codeDirectory);

        // Rebuilds a binary the cache lost, for example when an old version is rolled back to after a clean-up.
        var binary = await compiler.BuildAsync(new RustProgram(version.Code, version.Handler), cancellationToken)
            .ConfigureAwait(false);

        // A copy in the code folder keeps the worker independent of the private cache, which a sandbox never shows.
        var worker = Path.Combine(codeDirectory, WorkerFileName);
        if (!File.Exists(worker))
        {
            Directory.CreateDirectory(codeDirectory);
            var temporary = $"{worker}.{Guid.NewGuid():N}.tmp";

            // A hard link writes no bytes: a file this process has just written can fail to start ("text file
            // busy") while a process forked meanwhile still holds it open. A copy is the way across file systems.
            if (OperatingSystem.IsWindows() || NativeMethods.Link(binary, temporary) != 0)
            {
                File.Copy(binary, temporary);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(temporary, File.GetUnixFileMode(binary));
                }
            }

            File.Move(temporary, worker, overwrite: true);
        }

        // The binary is linked statically: it needs no host path besides the code folder.
        return new WorkerLaunch(worker, []);
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();
}
