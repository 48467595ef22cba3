using System.Diagnostics;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Starts programs in a session and process group of their own through util-linux's <c>setsid</c>, which calls
/// setsid() and then execs the program in place, so that it keeps the pid the server started.
/// </summary>
/// <remarks>
/// A terminal's Ctrl-C signals its whole foreground process group. A worker or a compile left in the server's group
/// would die of it in the middle of an invocation; in a session of its own it is signalled only by the server, which
/// lets it finish and then stops it.
/// </remarks>
internal static class NewSession
{
    private static readonly string[] s_candidates = ["/usr/bin/setsid", "/bin/setsid"];
    private static readonly Lazy<string?> s_program = new(() => s_candidates.FirstOrDefault(File.Exists));

    /// <summary>The <c>setsid</c> program.</summary>
    /// <exception cref="InvalidOperationException">util-linux's setsid is not installed.</exception>
    public static string Program => s_program.Value ?? throw new InvalidOperationException(
        "Cannot start function workers: the setsid program (util-linux) was not found in /usr/bin or /bin.");

    /// <summary>
    /// Changes <paramref name="start"/> so that <c>setsid</c> starts first and execs its program in a new session.
    /// </summary>
    /// <remarks>
    /// NOTE: .NET cannot call setsid() between fork and exec, so for the few microseconds until setsid runs the new
    /// process is still in the server's group, and a Ctrl-C exactly then reaches it too.
    /// </remarks>
    /// <param name="start">A start whose arguments are in <see cref="ProcessStartInfo.ArgumentList"/>.</param>
    /// <returns>The same start.</returns>
    public static ProcessStartInfo Wrap(ProcessStartInfo start)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (start.Arguments.Length > 0)
        {
            throw new ArgumentException("The arguments must be in ArgumentList.", nameof(start));
        }

        start.ArgumentList.Insert(0, start.FileName);
        start.FileName = Program;
        return start;
    }
}
