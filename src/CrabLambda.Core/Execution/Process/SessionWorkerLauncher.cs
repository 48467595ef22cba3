using System.Diagnostics;
using CrabLambda.Functions;
using CrabLambda.Runtimes;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Starts each worker as a plain process in a session of its own (through <c>setsid</c>), so that killing the
/// session's process group, plus a sweep of its descendants, stops every process the function started. It gives no
/// isolation beyond a clean environment and a private folder.
/// </summary>
internal sealed class SessionWorkerLauncher : IWorkerLauncher
{
    public Task<IWorkerProcess> StartAsync(WorkerStartInfo startInfo, CancellationToken cancellationToken) =>
        Task.FromResult(Start(startInfo));

    // Without isolation and limits there is nothing to change when a generic worker is given a version.
    public bool CanStartGeneric => true;

    public Task<IWorkerProcess> StartGenericAsync(
        GenericWorkerStartInfo startInfo,
        CancellationToken cancellationToken) =>
        Task.FromResult(Start(startInfo));

    /// <summary>Starts the worker; it takes no longer than a fork and an exec.</summary>
    public IWorkerProcess Start(WorkerStartInfo startInfo)
    {
        ArgumentNullException.ThrowIfNull(startInfo);

        return Start(startInfo.Launch, startInfo.CodeDirectory, startInfo.Environment);
    }

    /// <summary>Starts a generic worker; it takes no longer than a fork and an exec.</summary>
    public IWorkerProcess Start(GenericWorkerStartInfo startInfo)
    {
        ArgumentNullException.ThrowIfNull(startInfo);

        return Start(startInfo.Launch, startInfo.CodeDirectory, startInfo.Environment);
    }

    private SessionWorkerProcess Start(
        WorkerLaunch launch,
        string codeDirectory,
        IReadOnlyDictionary<string, string> environment)
    {
        // The worker's pid is the session and group id.
        var info = new ProcessStartInfo(launch.Executable)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = codeDirectory,
        };
        foreach (var argument in launch.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment.Clear();
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = System.Diagnostics.Process.Start(NewSession.Wrap(info))
            ?? throw new InvalidOperationException($"Could not start {launch.Executable}.");
        process.StandardInput.Close();
        return new SessionWorkerProcess(process);
    }

    private sealed class SessionWorkerProcess : IWorkerProcess
    {
        private readonly System.Diagnostics.Process _process;
        private readonly Task<int> _exited;
        private int _sweptAfterExit;

        public SessionWorkerProcess(System.Diagnostics.Process process)
        {
            _process = process;
            Id = process.Id;
            _exited = WaitForExitAsync(process);
        }

        public int Id { get; }

        public Stream StandardOutput => _process.StandardOutput.BaseStream;

        public Stream StandardError => _process.StandardError.BaseStream;

        public Task<int> Exited => _exited;

        public bool Owns(int pid) => pid == Id || ProcessTree.FindMembers(Id).Contains(pid);

        public void Kill()
        {
            // Once the worker has exited and its session was swept, its pid may be reused by an unrelated process.
            if (_exited.IsCompleted && Interlocked.Exchange(ref _sweptAfterExit, 1) == 1)
            {
                return;
            }

            ProcessTree.KillSession(Id);
        }

        public void ResetPeakMemory() => ProcessTree.TryResetPeakMemory(Id);

        // NOTE: without cgroups this is the peak of the worker process alone; processes the function starts are not
        // added, because finding them means scanning all of /proc on every invocation.
        public long? ReadPeakMemoryBytes() => ProcessTree.ReadPeakMemoryBytes(Id);

        public long ReadOomKillCount() => ProcessTree.ReadOomKillCount();

        public bool HasOwnMemoryGroup => false;

        public long ReadProcessLimitHits() => -1;

        public string AssignVersion(FunctionVersion version, string codePath) => codePath;

        public ValueTask DisposeAsync()
        {
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
