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

    public Task<IWorkerProcess> StartAsync(WorkerStartInfo startInfo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(startInfo);

        if (_isolation.Tools is null && _isolation.Cgroups is null)
        {
            return Task.FromResult(_plain.Start(startInfo));
        }

        var version = startInfo.Version;
        var start = new SandboxStart(
            startInfo.Launch,
            LimitsFor(version.MemoryMb),
            version.Network,
            startInfo.CodeDirectory,
            startInfo.Environment,
            TmpBytes: version.MemoryMb * Mb);
        return StartAsync(start);
    }

    public bool CanStartGeneric => true;

    public Task<IWorkerProcess> StartGenericAsync(
        GenericWorkerStartInfo startInfo,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(startInfo);

        if (_isolation.Tools is null && _isolation.Cgroups is null)
        {
            return Task.FromResult(_plain.Start(startInfo));
        }

        // Until it is given a version only the worker program runs, so it may start on a whole CPU: the version's
        // share replaces it before the function loads.
        var limits = LimitsFor(startInfo.MemoryMb);
        limits = limits with { Cpus = Math.Max(limits.Cpus, 1) };

        // NOTE: a tmpfs cannot be resized from outside its sandbox, so a generic worker's /tmp is sized for the largest
        // memory limit; its pages are charged to the worker's memory group, so the version's limit still bounds it.
        var start = new SandboxStart(
            startInfo.Launch,
            limits,
            startInfo.Network,
            startInfo.CodeDirectory,
            startInfo.Environment,
            TmpBytes: CrabLambdaOptionsValidator.MaxMemoryMb * Mb);
        return StartAsync(start);
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

    private async Task<IWorkerProcess> StartAsync(SandboxStart start)
    {
        var group = _isolation.Cgroups?.CreateGroup("w-" + WorkDirectory.NewName(), start.Limits);
        try
        {
            var socketPath = start.Environment[Runtimes.WorkerProtocol.SocketVariable];
            var command = BuildCommand(start, socketPath, group);
            var info = new ProcessStartInfo(command[0])
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = start.CodeDirectory,
            };
            foreach (var argument in command.Skip(1))
            {
                info.ArgumentList.Add(argument);
            }

            info.Environment.Clear();
            foreach (var (name, value) in start.Environment)
            {
                info.Environment[name] = value;
            }

            // The worker's first process (the shell that joins the group, then bubblewrap) leads a session of its
            // own, so that a terminal's Ctrl-C to the server's process group does not reach the sandbox.
            var process = await ProcessSpawner.StartAsync(NewSession.Wrap(info)).ConfigureAwait(false);
            process.StandardInput.Close();
            return new SandboxedWorkerProcess(this, process, group, start);
        }
        catch
        {
            group?.Dispose();
            throw;
        }
    }

    private IReadOnlyList<string> BuildCommand(SandboxStart start, string socketPath, CgroupGroup? group)
    {
        if (_isolation.Tools is not { } tools)
        {
            // Limits without namespaces: join the group, then become the worker.
            var join = string.Join(' ', group!.ProcsFiles.Select(f => $"echo $$ > '{f}' || exit 125;"));
            return ["/bin/sh", "-c", join + " exec \"$@\"", "crablambda-join", start.Launch.Executable,
                .. start.Launch.Arguments];
        }

        if (RunsAsSandboxUser)
        {
            // The sandbox user must be able to read the code and to connect to the socket; the folders above them
            // stay private, since bubblewrap binds them as root.
            OpenToSandboxUser(start.CodeDirectory);
            File.SetUnixFileMode(socketPath, Enterable | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);
        }

        var command = new BubblewrapCommand(tools, SandboxUser.UserId, SandboxUser.GroupId);
        return command.Build(
            start.Launch,
            start.CodeDirectory,
            socketPath,
            start.Network,
            start.TmpBytes,
            group);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatformGuard("windows")]
    private bool RunsAsSandboxUser => _isolation.Tools?.Setpriv is not null && !OperatingSystem.IsWindows();

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

    /// <summary>What one sandboxed worker is started with.</summary>
    private sealed record SandboxStart(
        Runtimes.WorkerLaunch Launch,
        CgroupLimits Limits,
        bool Network,
        string CodeDirectory,
        IReadOnlyDictionary<string, string> Environment,
        long TmpBytes);

    private sealed class SandboxedWorkerProcess : IWorkerProcess
    {
        private readonly SandboxWorkerLauncher _launcher;
        private readonly System.Diagnostics.Process _process;
        private readonly CgroupGroup? _group;
        private readonly SandboxStart _start;
        private readonly Task<int> _exited;

        public SandboxedWorkerProcess(
            SandboxWorkerLauncher launcher,
            System.Diagnostics.Process process,
            CgroupGroup? group,
            SandboxStart start)
        {
            _launcher = launcher;
            _process = process;
            _group = group;
            _start = start;
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

        public string AssignVersion(Functions.FunctionVersion version, string codePath)
        {
            ArgumentNullException.ThrowIfNull(version);

            // A network namespace is made when the sandbox starts and cannot be taken away later.
            if (version.Network != _start.Network)
            {
                throw new InvalidOperationException(
                    $"A worker started with network {(_start.Network ? "on" : "off")} cannot run a version with "
                    + $"network {(version.Network ? "on" : "off")}.");
            }

            _group?.SetLimits(_launcher.LimitsFor(version.MemoryMb));
            if (_launcher.RunsAsSandboxUser)
            {
                OpenToSandboxUser(_start.CodeDirectory);
            }

            var relative = Path.GetRelativePath(_start.CodeDirectory, codePath);
            if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
            {
                throw new ArgumentException("The code is not in the worker's code folder.", nameof(codePath));
            }

            return _launcher._isolation.Tools is null ? codePath : BubblewrapCommand.CodeFolder + "/" + relative;
        }

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
