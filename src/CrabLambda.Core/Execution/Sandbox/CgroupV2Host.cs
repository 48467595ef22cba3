using System.Globalization;
using System.Text;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Worker groups on the unified cgroup v2 hierarchy, with the <c>memory</c>, <c>pids</c> and <c>cpu</c> controllers
/// where the host delegates them.
/// </summary>
internal sealed class CgroupV2Host : CgroupHost
{
    private static readonly string[] Required = ["memory", "pids", "cpu"];

    // This process's own group, where servers' folders are made.
    private readonly string _parent;
    private readonly IReadOnlySet<string> _controllers;

    private CgroupV2Host(string parent, IReadOnlySet<string> controllers)
    {
        _parent = parent;
        _controllers = controllers;
    }

    public override int Version => 2;

    public override string Description =>
        "cgroup v2 (" + (_controllers.Count == 0 ? "no controllers" : string.Join(", ", _controllers.Order())) + ")";

    /// <summary>
    /// Uses the v2 hierarchy when it offers memory, pids and cpu to this process's group.
    /// </summary>
    public static CgroupV2Host? TryCreate(string ownGroup, out string reason)
    {
        var available = ReadControllers(Path.Join(ownGroup, "cgroup.controllers"));
        var missing = Required.Where(c => !available.Contains(c)).ToArray();
        if (missing.Length > 0)
        {
            reason = "controllers not available to this process's group: " + string.Join(", ", missing);
            return null;
        }

        var host = TryCreate(ownGroup, Required.ToHashSet(), out reason);
        return host;
    }

    /// <summary>
    /// Creates this server's folder under <paramref name="ownGroup"/> and enables <paramref name="controllers"/> for
    /// the worker groups beneath it. An empty set still gives membership, counters and <c>cgroup.kill</c>.
    /// </summary>
    internal static CgroupV2Host? TryCreate(string ownGroup, IReadOnlySet<string> controllers, out string reason)
    {
        var baseFolder = Path.Join(ownGroup, ServerFolderName);
        var enable = string.Join(' ', controllers.Select(c => "+" + c));
        var host = new CgroupV2Host(ownGroup, controllers);
        try
        {
            if (controllers.Count > 0 && !TryWrite(Path.Join(ownGroup, "cgroup.subtree_control"), enable))
            {
                reason = $"cannot enable {enable} in {ownGroup} (a group with processes of its own cannot delegate "
                    + "controllers; run the server in a delegated subtree)";
                return null;
            }

            host.AcquireServerFolder(folder =>
            {
                Directory.CreateDirectory(folder);
                if (controllers.Count > 0)
                {
                    Write(Path.Join(folder, "cgroup.subtree_control"), enable);
                }
            });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reason = $"cannot use {baseFolder}: {ex.Message}";
            return null;
        }

        reason = "";
        return host;
    }

    internal override IReadOnlyList<string> ParentFolders => [_parent];

    public override CgroupGroup CreateGroup(string name, CgroupLimits limits)
    {
        var folder = Path.Join(_parent, ServerFolderName, name);
        Directory.CreateDirectory(folder);

        var group = new Group(folder, _controllers);
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

    internal override CgroupGroup OpenGroup(string serverFolder, string name) =>
        new Group(Path.Join(_parent, serverFolder, name), _controllers);

    private static HashSet<string> ReadControllers(string path)
    {
        try
        {
            return File.ReadAllText(path).Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        }
        catch (IOException)
        {
            return [];
        }
    }

    private sealed class Group(string folder, IReadOnlySet<string> controllers) : CgroupGroup
    {
        private FileStream? _peak;

        public override IReadOnlyList<string> ProcsFiles { get; } = [Path.Join(folder, "cgroup.procs")];

        public override void SetLimits(CgroupLimits limits)
        {
            if (controllers.Contains("memory"))
            {
                // Lowered below the usage, the kernel reclaims and then kills inside the group, as at a start.
                Write(Path.Join(folder, "memory.max"), limits.MemoryBytes.ToString(CultureInfo.InvariantCulture));
                TryWrite(Path.Join(folder, "memory.swap.max"), "0");
            }

            if (controllers.Contains("pids"))
            {
                Write(Path.Join(folder, "pids.max"), limits.MaxProcesses.ToString(CultureInfo.InvariantCulture));
            }

            if (controllers.Contains("cpu"))
            {
                Write(
                    Path.Join(folder, "cpu.max"),
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"{limits.CpuQuotaMicroseconds} {CgroupLimits.CpuPeriodMicroseconds}"));
            }
        }

        public override void ResetPeak()
        {
            // Since Linux 6.12 a write to memory.peak starts a new peak for the open file it was written through.
            _peak?.Dispose();
            _peak = null;
            try
            {
                var stream = new FileStream(Path.Join(folder, "memory.peak"), FileMode.Open, FileAccess.ReadWrite);
                stream.Write("reset\n"u8);
                _peak = stream;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _peak = null;
            }
        }

        public override long? PeakBytes()
        {
            if (_peak is null)
            {
                return ReadNumber(Path.Join(folder, "memory.peak"));
            }

            var buffer = new byte[64];
            _peak.Seek(0, SeekOrigin.Begin);
            var read = _peak.Read(buffer);
            var text = Encoding.ASCII.GetString(buffer, 0, read).Trim();
            return long.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : null;
        }

        public override long OomKills() => ReadCounter(Path.Join(folder, "memory.events"), "oom_kill");

        public override long ProcessLimitHits() => ReadCounter(Path.Join(folder, "pids.events"), "max");

        public override IReadOnlyList<int> Processes() => ReadPids(Path.Join(folder, "cgroup.procs"));

        public override void KillAll()
        {
            if (Processes().Count > 0)
            {
                TryWrite(Path.Join(folder, "cgroup.kill"), "1");
            }
        }

        protected override bool TryRemove()
        {
            _peak?.Dispose();
            _peak = null;
            return TryRemoveDirectory(folder);
        }
    }
}
