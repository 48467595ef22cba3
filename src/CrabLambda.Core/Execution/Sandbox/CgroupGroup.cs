using System.Globalization;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// One worker's control group: its limits, its counters and the means to kill everything in it.
/// </summary>
internal abstract class CgroupGroup : IDisposable
{
    private static readonly TimeSpan EmptyWait = TimeSpan.FromSeconds(5);

    /// <summary>The <c>cgroup.procs</c> files a process writes its pid into to join the group.</summary>
    public abstract IReadOnlyList<string> ProcsFiles { get; }

    /// <summary>
    /// Sets the group's memory, process-count and CPU limits; also on a group with processes in it, which is how a
    /// pre-started worker gets the limits of the version it is given.
    /// </summary>
    /// <exception cref="IOException">
    /// The kernel refused a limit (v1 refuses a memory limit below the usage).
    /// </exception>
    public abstract void SetLimits(CgroupLimits limits);

    /// <summary>Starts a new peak-memory measurement, for the next invocation.</summary>
    public abstract void ResetPeak();

    /// <summary>The peak memory since the last <see cref="ResetPeak"/>, in bytes, when the kernel reports it.</summary>
    public abstract long? PeakBytes();

    /// <summary>How many times the kernel's OOM killer has killed a process of this group.</summary>
    public abstract long OomKills();

    /// <summary>How many times a fork or clone failed because the group was at its process limit.</summary>
    public abstract long ProcessLimitHits();

    /// <summary>The pids of the processes in the group.</summary>
    public abstract IReadOnlyList<int> Processes();

    /// <summary>Kills every process in the group.</summary>
    public abstract void KillAll();

    /// <summary>Kills what is left and removes the group.</summary>
    public void Dispose()
    {
        var deadline = DateTime.UtcNow + EmptyWait;
        do
        {
            KillAll();
            if (Processes().Count == 0 && TryRemove())
            {
                return;
            }

            Thread.Sleep(10);
        }
        while (DateTime.UtcNow < deadline);
    }

    /// <summary>Removes the group's folders if no process is in it; kills nothing.</summary>
    internal bool TryRemoveEmpty() => Processes().Count == 0 && TryRemove();

    /// <summary>Removes an empty control group folder, or one already gone; false while it is in use.</summary>
    internal static bool TryRemoveFolder(string path) => TryRemoveDirectory(path);

    /// <summary>Removes the group's folders; fails while a process is still in it.</summary>
    protected abstract bool TryRemove();

    protected static long ReadCounter(string path, string key)
    {
        foreach (var line in ReadLines(path))
        {
            var parts = line.Split(' ', 2);
            if (parts.Length == 2
                && parts[0] == key
                && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }
        }

        return 0;
    }

    protected static long? ReadNumber(string path)
    {
        var text = ReadText(path)?.Trim();
        return long.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    protected static IReadOnlyList<int> ReadPids(string procsFile)
    {
        var pids = new List<int>();
        foreach (var line in ReadLines(procsFile))
        {
            if (int.TryParse(line, CultureInfo.InvariantCulture, out var pid))
            {
                pids.Add(pid);
            }
        }

        return pids;
    }

    protected static bool TryRemoveDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                // A cgroup folder is removed with rmdir while its control files are still listed in it.
                Directory.Delete(path, recursive: false);
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static IEnumerable<string> ReadLines(string path) =>
        ReadText(path)?.Split('\n', StringSplitOptions.RemoveEmptyEntries) ?? [];
}
