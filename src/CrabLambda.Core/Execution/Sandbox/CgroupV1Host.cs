using System.Globalization;
using CrabLambda.Execution.Process;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Worker groups on the cgroup v1 controllers <c>memory</c>, <c>pids</c> and <c>cpu</c>, each its own hierarchy.
/// </summary>
internal sealed class CgroupV1Host : CgroupHost
{
    private static readonly string[] Required = ["memory", "pids", "cpu"];

    // The folder of this process's own group in each controller's hierarchy, where servers' folders are made.
    private readonly IReadOnlyDictionary<string, string> _parents;

    private CgroupV1Host(IReadOnlyDictionary<string, string> parents) => _parents = parents;

    public override int Version => 1;

    public override string Description => "cgroup v1 (memory, pids, cpu)";

    internal override IReadOnlyList<string> ParentFolders => [.. _parents.Values];

    public static CgroupV1Host? TryCreate(CgroupMounts mounts, out string reason)
    {
        var missing = Required.Where(c => !mounts.V1.ContainsKey(c)).ToArray();
        if (missing.Length > 0)
        {
            reason = "controllers not mounted: " + string.Join(", ", missing);
            return null;
        }

        var host = new CgroupV1Host(Required.ToDictionary(c => c, c => mounts.V1[c], StringComparer.Ordinal));
        string? folder = null;
        try
        {
            host.AcquireServerFolder(path =>
            {
                folder = path;
                Directory.CreateDirectory(path);
            });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reason = $"cannot create {folder}: {ex.Message}";
            return null;
        }

        reason = "";
        return host;
    }

    public override CgroupGroup CreateGroup(string name, CgroupLimits limits)
    {
        var folders = Folders(ServerFolderName, name);
        foreach (var folder in folders.Values)
        {
            Directory.CreateDirectory(folder);
        }

        var group = new Group(folders);
        try
        {
            group.SetLimits(limits);
            return group;
        }
        catch
        {
            group.Dispose();
            throw;
        }
    }

    internal override CgroupGroup OpenGroup(string serverFolder, string name) => new Group(Folders(serverFolder, name));

    private Dictionary<string, string> Folders(string serverFolder, string name) =>
        _parents.ToDictionary(p => p.Key, p => Path.Join(p.Value, serverFolder, name), StringComparer.Ordinal);

    private sealed class Group(IReadOnlyDictionary<string, string> folders) : CgroupGroup
    {
        private readonly string _memory = folders["memory"];
        private readonly string _pids = folders["pids"];
        private readonly string _cpu = folders["cpu"];

        public override IReadOnlyList<string> ProcsFiles { get; } =
            folders.Values.Select(f => Path.Join(f, "cgroup.procs")).ToArray();

        public override void SetLimits(CgroupLimits limits)
        {
            try
            {
                SetMemoryLimit(limits.MemoryBytes);
            }
            catch (IOException e) when (ReadNumber(Path.Join(_memory, "memory.usage_in_bytes")) > limits.MemoryBytes)
            {
                // The kernel refuses (EBUSY) a limit below what the group uses and cannot reclaim.
                throw new MemoryLimitBelowUsageException(
                    $"the group uses more than the limit of {limits.MemoryBytes / (1024 * 1024)} MB",
                    e);
            }

            Write(Path.Join(_pids, "pids.max"), limits.MaxProcesses.ToString(CultureInfo.InvariantCulture));
            Write(
                Path.Join(_cpu, "cpu.cfs_period_us"),
                CgroupLimits.CpuPeriodMicroseconds.ToString(CultureInfo.InvariantCulture));
            Write(
                Path.Join(_cpu, "cpu.cfs_quota_us"),
                limits.CpuQuotaMicroseconds.ToString(CultureInfo.InvariantCulture));
        }

        public override void ResetPeak() => TryWrite(Path.Join(_memory, "memory.max_usage_in_bytes"), "0");

        public override long? PeakBytes() => ReadNumber(Path.Join(_memory, "memory.max_usage_in_bytes"));

        public override long OomKills() => ReadCounter(Path.Join(_memory, "memory.oom_control"), "oom_kill");

        public override long ProcessLimitHits() => ReadCounter(Path.Join(_pids, "pids.events"), "max");

        public override IReadOnlyList<int> Processes() => ReadPids(Path.Join(_pids, "cgroup.procs"));

        public override void KillAll()
        {
            // v1 has no cgroup.kill: signal each member; a fork racing the sweep is caught by the next pass.
            for (var pass = 0; pass < 10; pass++)
            {
                var pids = Processes();
                if (pids.Count == 0)
                {
                    return;
                }

                foreach (var pid in pids)
                {
                    NativeMethods.Kill(pid, NativeMethods.SigKill);
                }
            }
        }

        protected override bool TryRemove() => folders.Values.All(TryRemoveDirectory);

        private void SetMemoryLimit(long memoryBytes)
        {
            var bytes = memoryBytes.ToString(CultureInfo.InvariantCulture);
            var limit = Path.Join(_memory, "memory.limit_in_bytes");

            // Where swap is accounted, memory plus swap gets the same limit so a function cannot swap past it. The
            // kernel keeps memory at or below memory plus swap, so a raise writes that first and a cut writes it last.
            var memsw = Path.Join(_memory, "memory.memsw.limit_in_bytes");
            var swapAccounted = File.Exists(memsw);
            var raise = (ReadNumber(limit) ?? long.MaxValue) < memoryBytes;
            if (swapAccounted && raise)
            {
                Write(memsw, bytes);
            }

            Write(limit, bytes);
            if (swapAccounted && !raise)
            {
                Write(memsw, bytes);
            }
        }
    }
}
