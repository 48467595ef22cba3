using System.Globalization;
using System.Text;
using CrabLambda.Execution.Sandbox;

namespace CrabLambda.Docker;

/// <summary>
/// The kernel's counters for one container, read from its control groups on this host: peak memory, OOM kills and
/// refused forks. The engine sets the limits; this only reads, so that <c>oom</c> and <c>memory_used_mb</c> come from
/// the kernel's accounting as with the process sandbox.
/// </summary>
internal sealed class ContainerCgroup : IDisposable
{
    private readonly string _memory;
    private readonly string? _pids;
    private readonly bool _unified;
    private FileStream? _peak;

    private ContainerCgroup(string memory, string? pids, bool unified)
    {
        _memory = memory;
        _pids = pids;
        _unified = unified;
    }

    /// <summary>Finds the groups of the process <paramref name="pid"/>, or null if the host hides them.</summary>
    /// <param name="pid">The container's first process, as the host sees it.</param>
    public static ContainerCgroup? Find(int pid)
    {
        var mounts = CgroupMounts.Read("/proc/self/mountinfo", $"/proc/{pid}/cgroup");
        if (mounts.V1.TryGetValue("memory", out var memory) && File.Exists(Path.Join(memory, "memory.oom_control")))
        {
            return new ContainerCgroup(memory, mounts.V1.GetValueOrDefault("pids"), unified: false);
        }

        if (mounts.Unified is { } unified && File.Exists(Path.Join(unified, "memory.events")))
        {
            return new ContainerCgroup(unified, unified, unified: true);
        }

        return null;
    }

    /// <summary>Starts a new peak-memory measurement.</summary>
    public void ResetPeak()
    {
        if (!_unified)
        {
            TryWrite(Path.Join(_memory, "memory.max_usage_in_bytes"), "0");
            return;
        }

        // Since Linux 6.12 a write to memory.peak starts a new peak for the open file it was written through.
        _peak?.Dispose();
        _peak = null;
        try
        {
            var stream = new FileStream(Path.Join(_memory, "memory.peak"), FileMode.Open, FileAccess.ReadWrite);
            stream.Write("reset\n"u8);
            _peak = stream;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _peak = null;
        }
    }

    /// <summary>The peak since the last reset, in bytes, or null once the group is gone.</summary>
    public long? PeakBytes()
    {
        if (!_unified)
        {
            return ReadNumber(Path.Join(_memory, "memory.max_usage_in_bytes"));
        }

        if (_peak is null)
        {
            return ReadNumber(Path.Join(_memory, "memory.peak"));
        }

        try
        {
            var buffer = new byte[64];
            _peak.Seek(0, SeekOrigin.Begin);
            var read = _peak.Read(buffer);
            return Parse(Encoding.ASCII.GetString(buffer, 0, read));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>How often the OOM killer killed in the group, or null once the group is gone.</summary>
    public long? OomKills() => _unified
        ? ReadCounter(Path.Join(_memory, "memory.events"), "oom_kill")
        : ReadCounter(Path.Join(_memory, "memory.oom_control"), "oom_kill");

    /// <summary>How often a fork was refused at the process limit, or null when it cannot be read.</summary>
    public long? ProcessLimitHits() => _pids is null ? null : ReadCounter(Path.Join(_pids, "pids.events"), "max");

    public void Dispose()
    {
        _peak?.Dispose();
        _peak = null;
    }

    private static long? ReadCounter(string path, string key)
    {
        var text = ReadText(path);
        if (text is null)
        {
            return null;
        }

        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', 2);
            if (parts.Length == 2 && parts[0] == key)
            {
                return Parse(parts[1]);
            }
        }

        return 0;
    }

    private static long? ReadNumber(string path) => ReadText(path) is { } text ? Parse(text) : null;

    private static long? Parse(string text) =>
        long.TryParse(text.Trim(), CultureInfo.InvariantCulture, out var value) ? value : null;

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void TryWrite(string path, string value)
    {
        try
        {
            File.WriteAllText(path, value);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Resetting is best effort: without it the peak is that of the container's life so far.
        }
    }
}
