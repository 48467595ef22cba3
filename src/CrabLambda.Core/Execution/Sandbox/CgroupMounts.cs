namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Where this process's control groups are: the mount point of each hierarchy and the process's own group in it,
/// read from <c>/proc/self/mountinfo</c> and <c>/proc/self/cgroup</c>.
/// </summary>
internal sealed class CgroupMounts
{
    /// <summary>The cgroup2 hierarchy: the folder of this process's own group in it.</summary>
    public string? Unified { get; private init; }

    /// <summary>The v1 controllers by name (memory, pids, cpu …): the folder of this process's own group.</summary>
    public IReadOnlyDictionary<string, string> V1 { get; private init; } = new Dictionary<string, string>();

    public static CgroupMounts Read(
        string mountInfoPath = "/proc/self/mountinfo",
        string cgroupPath = "/proc/self/cgroup")
    {
        if (!File.Exists(mountInfoPath) || !File.Exists(cgroupPath))
        {
            return new CgroupMounts();
        }

        // /proc/self/cgroup: "ID:controllers:path"; v2 has ID 0 and no controllers.
        var ownV1 = new Dictionary<string, string>(StringComparer.Ordinal);
        string? ownV2 = null;
        foreach (var line in File.ReadLines(cgroupPath))
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3)
            {
                continue;
            }

            if (parts[1].Length == 0)
            {
                ownV2 = parts[2];
            }
            else
            {
                foreach (var controller in parts[1].Split(','))
                {
                    ownV1[controller] = parts[2];
                }
            }
        }

        // mountinfo: "id parent major:minor root mountpoint options … - fstype source superoptions".
        string? unified = null;
        var v1 = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(mountInfoPath))
        {
            var separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0)
            {
                continue;
            }

            var fields = line[..separator].Split(' ');
            var tail = line[(separator + 3)..].Split(' ');
            if (fields.Length < 5 || tail.Length < 3)
            {
                continue;
            }

            var root = Unescape(fields[3]);
            var mountPoint = Unescape(fields[4]);
            if (tail[0] == "cgroup2" && ownV2 is not null && unified is null)
            {
                unified = Combine(mountPoint, root, ownV2);
            }
            else if (tail[0] == "cgroup")
            {
                foreach (var option in tail[2].Split(','))
                {
                    if (ownV1.TryGetValue(option, out var own) && !v1.ContainsKey(option))
                    {
                        v1[option] = Combine(mountPoint, root, own);
                    }
                }
            }
        }

        return new CgroupMounts { Unified = unified, V1 = v1 };
    }

    private static string Combine(string mountPoint, string root, string own)
    {
        // A group path is relative to the hierarchy's root; the mount may show only a subtree of it.
        var relative = own.StartsWith(root, StringComparison.Ordinal) ? own[root.Length..] : own;
        return Path.Join(mountPoint, relative.TrimStart('/')).TrimEnd('/');
    }

    // mountinfo escapes space, tab, newline and backslash as octal.
    private static string Unescape(string value) =>
        value.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
}
