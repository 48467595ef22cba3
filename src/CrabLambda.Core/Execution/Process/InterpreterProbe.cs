using System.ComponentModel;
using System.Diagnostics;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Asks an interpreter about itself (its real path, its version) by running it once with the server's own
/// environment, so that a shim on PATH (pyenv, asdf, nvm) resolves to the program behind it.
/// </summary>
internal static class InterpreterProbe
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs the program and returns what it printed, or null when there is no such program.</summary>
    /// <exception cref="InvalidOperationException">The program ran but failed or did not finish in time.</exception>
    public static async Task<string?> RunAsync(
        string program,
        IReadOnlyList<string> arguments,
        TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        System.Diagnostics.Process? process;
        try
        {
            process = System.Diagnostics.Process.Start(info);
        }
        catch (Win32Exception)
        {
            return null;
        }

        if (process is null)
        {
            return null;
        }

        using (process)
        {
            process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(s_timeout, timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            var stdout = process.StandardOutput.ReadToEndAsync(linked.Token);
            var stderr = process.StandardError.ReadToEndAsync(linked.Token);
            try
            {
                await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
                await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                throw new Runtimes.RuntimeUnavailableException(
                    $"'{program}' did not answer within {s_timeout.TotalSeconds} s when asked about itself.");
            }

            if (process.ExitCode != 0)
            {
                throw new Runtimes.RuntimeUnavailableException(
                    $"'{program}' failed with exit code {process.ExitCode} when asked about itself: "
                    + (await stderr.ConfigureAwait(false)).Trim());
            }

            return await stdout.ConfigureAwait(false);
        }
    }
}
