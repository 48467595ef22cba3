using System.Diagnostics;
using System.Text;

namespace CrabLambda.Tests.Docker;

/// <summary>
/// Runs the command-line tools the image tests drive (the Docker client, Compose, the image scripts) from the
/// repository's root, with their output in the failure message.
/// </summary>
internal static class Commands
{
    public static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The repository the tests were built from.</summary>
    public static string Repository => FindRepository();

    /// <summary>Runs a program and returns its output; fails the test when it fails or outlasts the timeout.</summary>
    public static async Task<string> RunAsync(
        string program,
        IReadOnlyList<string> arguments,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var (exitCode, output) = await ExecuteAsync(program, arguments, timeout ?? StepTimeout, environment);
        Assert.True(
            exitCode == 0,
            $"{program} {string.Join(' ', arguments)} failed with exit code {exitCode}:\n{output}");
        return output;
    }

    /// <summary>Runs a program for clean-up or a diagnosis: a failure is in the output, never an exception.</summary>
    public static async Task<string> RunQuietlyAsync(
        string program,
        IReadOnlyList<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        try
        {
            return (await ExecuteAsync(program, arguments, StepTimeout, environment)).Output;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return e.Message;
        }
    }

    /// <summary>Compose as this machine has it: the client's plug-in (v2) or the stand-alone docker-compose.</summary>
    public static async Task<string[]> FindComposeAsync()
    {
        if ((Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(folder => File.Exists(Path.Combine(folder, "docker-compose"))))
        {
            return ["docker-compose"];
        }

        var (exitCode, _) = await ExecuteAsync("docker", ["compose", "version"], StepTimeout, null);
        Assert.True(
            exitCode == 0,
            "Neither docker-compose nor docker compose is installed; this test needs one (scripts/test.sh installs "
                + "docker-compose).");
        return ["docker", "compose"];
    }

    private static async Task<(int ExitCode, string Output)> ExecuteAsync(
        string program,
        IReadOnlyList<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = Repository,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var stdout = PumpAsync(process.StandardOutput, output);
        var stderr = PumpAsync(process.StandardError, output);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
            await Task.WhenAll(stdout, stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"did not finish in {timeout}:\n{output}");
        }

        return (process.ExitCode, output.ToString());
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder into)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (into)
            {
                into.AppendLine(line);
            }
        }
    }

    private static string FindRepository()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CrabLambda.sln")))
        {
            directory = directory.Parent;
        }

        Assert.True(directory is not null, "The tests run outside the repository they were built from.");
        return directory!.FullName;
    }
}
