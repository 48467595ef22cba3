using System.Diagnostics;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Runtimes;

namespace CrabLambda.Tests.Execution.Sandbox;

/// <summary>
/// The host's sandbox, resolved as the server would with ISOLATION=sandbox. Fails the tests that use it when the
/// host cannot sandbox, so a missing bubblewrap or cgroup never passes silently.
/// </summary>
public sealed class SandboxFixture : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("crablambda-sandbox-tests-").FullName;

    public SandboxFixture()
    {
        Isolation = HostIsolation.Resolve(IsolationMode.Sandbox);
        File.SetUnixFileMode(_folder, (UnixFileMode)Convert.ToInt32("755", 8));
        CodeDirectory = Directory.CreateDirectory(Path.Combine(_folder, "code")).FullName;
        SocketPath = Path.Combine(_folder, "socket");
        File.WriteAllText(SocketPath, "");
        Python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : throw new InvalidOperationException(
            "The sandbox tests need Debian's /usr/bin/python3.");
    }

    internal HostIsolation Isolation { get; }

    public string CodeDirectory { get; }

    public string SocketPath { get; }

    public string Python { get; }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Runs a Python snippet in a fresh sandbox and returns its exit code and output.</summary>
    internal async Task<(int ExitCode, string Output)> RunPythonAsync(
        string code,
        CgroupGroup? group = null,
        bool network = false,
        TimeSpan? timeout = null)
    {
        var command = new BubblewrapCommand(Isolation.Tools!, SandboxUser.UserId, SandboxUser.GroupId);
        var args = command.Build(
            new WorkerLaunch(Python, ["-c", code]),
            CodeDirectory,
            SocketPath,
            network,
            tmpBytes: 16 * 1024 * 1024,
            group);
        var start = new ProcessStartInfo(args[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        foreach (var arg in args.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = await ProcessSpawner.StartAsync(start);
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var stdout = process.StandardOutput.ReadToEndAsync(cancel.Token);
        var stderr = process.StandardError.ReadToEndAsync(cancel.Token);
        await process.WaitForExitAsync(cancel.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
