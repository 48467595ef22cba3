using System.Globalization;

namespace CrabLambda.Bench.Harness;

/// <summary>What the kernel says about a process: its CPU time and resident memory.</summary>
internal static class ProcessStats
{
    // USER_HZ, the unit of the times in /proc/PID/stat, is 100 on every Linux architecture .NET runs on.
    private const double TicksPerSecond = 100;

    /// <summary>User plus system CPU time of a process, from <c>/proc/PID/stat</c>.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");

        // The command name may hold spaces and parentheses: the fields start after its last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var user = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var system = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((user + system) / TicksPerSecond);
    }

    /// <summary>The resident set size of a process in MiB (<c>VmRSS</c>), or null when it is gone.</summary>
    public static double? ResidentMb(int pid) => ReadStatusKb(pid, "VmRSS:") / 1024.0;

    /// <summary>
    /// The process a worker's program runs in: the worker process itself, or, in the sandbox, the interpreter that
    /// bubblewrap starts two processes down. Follows only children, and stops where a process has none or several.
    /// </summary>
    public static int Innermost(int pid)
    {
        while (true)
        {
            string children;
            try
            {
                children = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                return pid;
            }

            var pids = children.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (pids.Length != 1)
            {
                return pid;
            }

            pid = int.Parse(pids[0], CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The proportional set size in MiB (<c>Pss</c>, shared pages divided among their users).</summary>
    public static double? ProportionalMb(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
            {
                if (line.StartsWith("Pss:", StringComparison.Ordinal))
                {
                    return ParseKb(line) / 1024.0;
                }
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return null;
    }

    private static long? ReadStatusKb(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return ParseKb(line);
                }
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return null;
    }

    private static long ParseKb(string line) =>
        long.Parse(
            line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
            CultureInfo.InvariantCulture);
}
