using System.Globalization;
using System.Text.RegularExpressions;
using CrabLambda.Execution.Process;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// The control group hierarchy the server places workers in: cgroup v2 where its controllers are available, else
/// the v1 controllers. Each worker gets a group of its own with its memory, process-count and CPU limits, so the
/// kernel enforces them, counts peak memory and OOM kills, and lets the server kill everything the worker started.
/// </summary>
/// <remarks>
/// A server's worker groups sit in a folder of its own, <c>crablambda-NS-PID-START</c>: its PID namespace, its pid
/// and its start time, which together name one process for good even when its pid is reused later. The folder is
/// removed when the server stops (<see cref="Release"/>); a server starting on the same host removes the folders of
/// servers that are gone (<see cref="RemoveLeftovers"/>), and never one whose owner still runs.
/// </remarks>
internal abstract partial class CgroupHost
{
    protected const string GroupPrefix = "crablambda-";

    // Every host object of this process shares the process's folder; the last one released removes it.
    private static readonly object s_folderGate = new();
    private static readonly Dictionary<string, int> s_folderUsers = new(StringComparer.Ordinal);
    private static readonly Lazy<long> s_ownPidNamespace = new(ReadOwnPidNamespace);
    private static readonly Lazy<string> s_serverFolderName = new(() => FolderName(
        s_ownPidNamespace.Value,
        Environment.ProcessId,
        ProcessTree.ReadStartTime(Environment.ProcessId) ?? 0));

    private bool _released;

    /// <summary>1 or 2.</summary>
    public abstract int Version { get; }

    /// <summary>Which limits this hierarchy enforces, for the start-up log.</summary>
    public abstract string Description { get; }

    /// <summary>The name of the folder that holds this server process's worker groups.</summary>
    internal static string ServerFolderName => s_serverFolderName.Value;

    /// <summary>The id of this process's PID namespace, which a server's folder name carries.</summary>
    internal static long OwnPidNamespace => s_ownPidNamespace.Value;

    /// <summary>The folders a server's folder is made in: one per v1 controller, or the v2 group.</summary>
    internal abstract IReadOnlyList<string> ParentFolders { get; }

    /// <summary>Creates a worker's group with its limits.</summary>
    public abstract CgroupGroup CreateGroup(string name, CgroupLimits limits);

    /// <summary>The name of a server's folder.</summary>
    internal static string FolderName(long pidNamespace, int pid, long startTime) =>
        string.Create(CultureInfo.InvariantCulture, $"{GroupPrefix}{pidNamespace}-{pid}-{startTime}");

    /// <summary>
    /// Finds a usable hierarchy on this host, preferring cgroup v2 with memory, pids and cpu controllers.
    /// </summary>
    /// <param name="reason">Why none is usable, when none is.</param>
    public static CgroupHost? Detect(out string reason)
    {
        var mounts = CgroupMounts.Read();
        var v2Problem = "no cgroup2 file system is mounted";
        if (mounts.Unified is { } unified)
        {
            var host = CgroupV2Host.TryCreate(unified, out v2Problem);
            if (host is not null)
            {
                reason = "";
                return host;
            }
        }

        var v1 = CgroupV1Host.TryCreate(mounts, out var v1Problem);
        if (v1 is not null)
        {
            reason = "";
            return v1;
        }

        reason = $"cgroup v2: {v2Problem}; cgroup v1: {v1Problem}";
        return null;
    }

    /// <summary>
    /// Gives up this host object's use of the server's folder; the last use in the process removes the folder with
    /// any worker group left in it, killing what still runs there. Called once the workers are stopped.
    /// </summary>
    public void Release()
    {
        lock (s_folderGate)
        {
            if (_released)
            {
                return;
            }

            _released = true;
            var key = FolderKey();
            if (!s_folderUsers.TryGetValue(key, out var users))
            {
                return;
            }

            if (users > 1)
            {
                s_folderUsers[key] = users - 1;
                return;
            }

            s_folderUsers.Remove(key);
            RemoveServerFolder(ServerFolderName, kill: true);
        }
    }

    /// <summary>
    /// Removes the folders that servers which are gone left beside this server's: those named for a process of this
    /// PID namespace that no longer runs (pid and start time), after killing what is still in their groups; and
    /// empty ones of the older <c>crablambda-PID</c> form whose pid no longer runs. A folder whose owner runs, or
    /// may run in another PID namespace, is left alone.
    /// </summary>
    public LeftoverGroups RemoveLeftovers()
    {
        var names = ParentFolders
            .SelectMany(EnumerateFolders)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => n.StartsWith(GroupPrefix, StringComparison.Ordinal) && n != ServerFolderName)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToArray();

        var removed = new List<string>();
        var killed = 0;
        foreach (var name in names)
        {
            bool kill;
            if (OwnerPattern().Match(name) is { Success: true } owner)
            {
                var pidNamespace = long.Parse(owner.Groups[1].Value, CultureInfo.InvariantCulture);
                var pid = int.Parse(owner.Groups[2].Value, CultureInfo.InvariantCulture);
                var startTime = long.Parse(owner.Groups[3].Value, CultureInfo.InvariantCulture);
                if (pidNamespace != OwnPidNamespace || ProcessTree.ReadStartTime(pid) == startTime)
                {
                    continue;
                }

                kill = true;
            }
            else if (LegacyPattern().Match(name) is { Success: true } legacy)
            {
                // Without a start time a running pid may be the owner, and without a namespace a pid that does not
                // run here may run elsewhere: only empty groups are removed.
                if (Directory.Exists("/proc/" + legacy.Groups[1].Value))
                {
                    continue;
                }

                kill = false;
            }
            else
            {
                continue;
            }

            var (gone, count) = RemoveServerFolder(name, kill);
            killed += count;
            if (gone)
            {
                removed.Add(name);
            }
        }

        return new LeftoverGroups(removed, killed);
    }

    /// <summary>Opens an existing worker group in a server's folder, to kill what is in it and remove it.</summary>
    internal abstract CgroupGroup OpenGroup(string serverFolder, string name);

    /// <summary>Creates this server's folder in each parent and counts this host object as one of its users.</summary>
    /// <param name="create">Makes the folder in one parent, or throws.</param>
    protected void AcquireServerFolder(Action<string> create)
    {
        lock (s_folderGate)
        {
            foreach (var parent in ParentFolders)
            {
                create(Path.Join(parent, ServerFolderName));
            }

            var key = FolderKey();
            s_folderUsers[key] = s_folderUsers.GetValueOrDefault(key) + 1;
        }
    }

    protected static void Write(string path, string value) => File.WriteAllText(path, value);

    protected static bool TryWrite(string path, string value)
    {
        try
        {
            File.WriteAllText(path, value);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private (bool Gone, int Killed) RemoveServerFolder(string serverFolder, bool kill)
    {
        var killed = 0;
        var groups = ParentFolders
            .SelectMany(p => EnumerateFolders(Path.Join(p, serverFolder)))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Distinct(StringComparer.Ordinal);
        foreach (var name in groups)
        {
            var group = OpenGroup(serverFolder, name);
            if (kill)
            {
                killed += group.Processes().Count;
                group.Dispose();
            }
            else
            {
                group.TryRemoveEmpty();
            }
        }

        var gone = true;
        foreach (var parent in ParentFolders)
        {
            gone &= CgroupGroup.TryRemoveFolder(Path.Join(parent, serverFolder));
        }

        return (gone, killed);
    }

    private string FolderKey() => string.Join('\n', ParentFolders.Select(p => Path.Join(p, ServerFolderName)));

    private static IEnumerable<string> EnumerateFolders(string folder)
    {
        try
        {
            return Directory.GetDirectories(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static long ReadOwnPidNamespace()
    {
        // The link reads "pid:[4026531836]".
        var target = new FileInfo("/proc/self/ns/pid").LinkTarget ?? "";
        var digits = new string(target.Where(char.IsAsciiDigit).ToArray());
        return long.TryParse(digits, CultureInfo.InvariantCulture, out var id) ? id : 0;
    }

    [GeneratedRegex(@"^crablambda-(\d+)-(\d+)-(\d+)$")]
    private static partial Regex OwnerPattern();

    [GeneratedRegex(@"^crablambda-(\d+)$")]
    private static partial Regex LegacyPattern();
}

/// <summary>What <see cref="CgroupHost.RemoveLeftovers"/> removed.</summary>
/// <param name="Folders">The servers' folders removed.</param>
/// <param name="KilledProcesses">How many processes were still in their groups and were killed.</param>
internal sealed record LeftoverGroups(IReadOnlyList<string> Folders, int KilledProcesses);
