namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// The control group hierarchy the server places workers in: cgroup v2 where its controllers are available, else
/// the v1 controllers. Each worker gets a group of its own with its memory, process-count and CPU limits, so the
/// kernel enforces them, counts peak memory and OOM kills, and lets the server kill everything the worker started.
/// </summary>
internal abstract class CgroupHost
{
    protected const string GroupPrefix = "crablambda-";

    /// <summary>1 or 2.</summary>
    public abstract int Version { get; }

    /// <summary>Which limits this hierarchy enforces, for the start-up log.</summary>
    public abstract string Description { get; }

    /// <summary>Creates a worker's group with its limits.</summary>
    public abstract CgroupGroup CreateGroup(string name, CgroupLimits limits);

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

    /// <summary>The name of the folder that holds this server's worker groups.</summary>
    protected static string ServerFolderName() => GroupPrefix + Environment.ProcessId;

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
}
