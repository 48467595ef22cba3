using System.Diagnostics;
using CrabLambda.Execution.Process;
using Microsoft.Extensions.Options;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Starts workers with the isolation this host gives (<see cref="HostIsolation"/>): inside a bubblewrap sandbox and
/// a control group of their own with the function's memory, CPU and process limits, or whichever of the two the host
/// has. With neither, it hands over to the plain <see cref="SessionWorkerLauncher"/>.
/// </summary>
internal sealed class SandboxWorkerLauncher : IWorkerLauncher
{
    private const long Mb = 1024 * 1024;
    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead
        | UnixFileMode.OtherRead;
    private const UnixFileMode Enterable = Readable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute
        | UnixFileMode.OtherExecute;

    private readonly HostIsolation _isolation;
    private readonly CrabLambdaOptions _options;
    private readonly SessionWorkerLauncher _plain = new();

    public SandboxWorkerLauncher(HostIsolation isolation, IOptions<CrabLambdaOptions> options)
    {
        _isolation = isolation;
        _options = options.Value;
    }

    public async Task<IWorkerProcess> StartAsync(WorkerStartInfo startInfo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(startInfo);

        if (_isolation.Tools is null && _isolation.Cgroups is null)
        {
            return _plain.Start(startInfo);
        }

        var version = startInfo.Version;
        var group = _isolation.Cgroups?.CreateGroup("w-" + WorkDirectory.NewName(), LimitsFor(version.MemoryMb));
        try
        {
            var socketPath = startInfo.Environment[Runtimes.WorkerProtocol.SocketVariable];
            var command = BuildCommand(startInfo, socketPath, group);
            var info = new ProcessStartInfo(command[0])
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = startInfo.CodeDirectory,
            };
            foreach (var argument in command.Skip(1))
            {
                info.ArgumentList.Add(argument);
            }

            info.Environment.Clear();
            foreach (var (name, value) in startInfo.Environment)
            {
                info.Environment[name] = value;
            }

            var process = await ProcessSpawner.StartAsync(info).ConfigureAwait(false);
            process.StandardInput.Close();
            return new SandboxedWorkerProcess(process, group);
        }
        catch
        {
            group?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The limits of a worker: its memory, a process count, and a CPU share that grows with memory the way AWS
    /// Lambda's does (one CPU per 1024 MB), but never below half a CPU so interpreters start quickly.
    /// </summary>
    internal CgroupLimits LimitsFor(int memoryMb)
    {
        var cpus = Math.Clamp(memoryMb / 1024.0, 0.5, Environment.ProcessorCount);
        return new CgroupLimits(memoryMb * Mb, _options.MaxProcessesPerWorker, cpus);
    }

    private IReadOnlyList<string> BuildCommand(WorkerStartInfo startInfo, string socketPath, CgroupGroup? group)
    {
        if (_isolation.Tools is not { } tools)
        {
            // Limits without namespaces: join the group, then start the worker in a session of its own.
            var join = string.Join(' ', group!.ProcsFiles.Select(f => $"echo $$ > '{f}' || exit 125;"));
            return ["/bin/sh", "-c", join + " exec \"$@\"", "crablambda-join", "/usr/bin/setsid",
                startInfo.Launch.Executable, .. startInfo.Launch.Arguments];
        }

        if (tools.Setpriv is not null && !OperatingSystem.IsWindows())
        {
            // The sandbox user must be able to read the code and to connect to the socket; the folders above them
            // stay private, since bubblewrap binds them as root.
            OpenToSandboxUser(startInfo.CodeDirectory);
            File.SetUnixFileMode(socketPath, Enterable | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);
        }

        var command = new BubblewrapCommand(tools, SandboxUser.UserId, SandboxUser.GroupId);
        return command.Build(
            startInfo.Launch,
            startInfo.CodeDirectory,
            socketPath,
            startInfo.Version.Network,
            tmpBytes: startInfo.Version.MemoryMb * Mb,
            group);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void OpenToSandboxUser(string folder)
    {
        File.SetUnixFileMode(folder, Enterable);
        foreach (var entry in Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories))
        {
            var mode = File.GetUnixFileMode(entry);
            var executable = Directory.Exists(entry) || (mode & UnixFileMode.UserExecute) != 0;
            File.SetUnixFileMode(entry, executable ? Enterable : Readable);
        }
    }

    private sealed class SandboxedWorkerProcess : IWorkerProcess
    {
        private readonly System.Diagnostics.Process _process;
        private readonly CgroupGroup? _group;
        private readonly Task<int> _exited;

        public SandboxedWorkerProcess(System.Diagnostics.Process process, CgroupGroup? group)
        {
            _process = process;
            _group = group;
            Id = process.Id;
            _exited = WaitForExitAsync(process);
        }

        public int Id { get; }

        public Stream StandardOutput => _process.StandardOutput.BaseStream;

        public Stream StandardError => _process.StandardError.BaseStream;

        public Task<int> Exited => _exited;

        public bool HasOwnMemoryGroup => _group is not null;

        public bool Owns(int pid) =>
            pid == Id || (_group?.Processes().Contains(pid) ?? ProcessTree.FindMembers(Id).Contains(pid));

        public void Kill()
        {
            // Killing bubblewrap ends its PID namespace, and with it every process inside; the group catches any
            // process that is not in the namespace.
            _group?.KillAll();
            if (!_exited.IsCompleted)
            {
                NativeMethods.Kill(Id, NativeMethods.SigKill);
            }
        }

        public void ResetPeakMemory() => _group?.ResetPeak();

        public long? ReadPeakMemoryBytes() => _group?.PeakBytes();

        public long ReadOomKillCount() => _group?.OomKills() ?? -1;

        public long ReadProcessLimitHits() => _group?.ProcessLimitHits() ?? -1;

        public ValueTask DisposeAsync()
        {
            Kill();
            _group?.Dispose();
            _process.Dispose();
            return ValueTask.CompletedTask;
        }

        private static async Task<int> WaitForExitAsync(System.Diagnostics.Process process)
        {
            await process.WaitForExitAsync().ConfigureAwait(false);
            return process.ExitCode;
        }
    }
}
