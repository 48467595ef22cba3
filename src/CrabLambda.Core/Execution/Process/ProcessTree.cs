using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace CrabLambda.Execution.Process;

/// <summary>
/// Reads and acts on the kernel's view of processes through <c>/proc</c>: killing a worker's whole session, and
/// the peak memory and out-of-memory counters.
/// </summary>
internal static class ProcessTree
{
    private const int MaxFreezeRounds = 8;

    private static readonly byte[] s_vmHwm = "VmHWM:"u8.ToArray();
    private static readonly byte[] s_oomKill = "\noom_kill "u8.ToArray();
    private static readonly byte[] s_resetPeak = "5"u8.ToArray();

    /// <summary>
    /// Kills every process of the session <paramref name="sessionId"/> and every descendant of them, including those
    /// that moved to a session or group of their own. Everything found is stopped first, so that nothing can fork
    /// away between the scan and the kill.
    /// </summary>
    public static void KillSession(int sessionId)
    {
        var stopped = new HashSet<int>();
        NativeMethods.Kill(-sessionId, NativeMethods.SigStop);

        for (var round = 0; round < MaxFreezeRounds; round++)
        {
            var found = FindMembers(sessionId);
            found.ExceptWith(stopped);
            if (found.Count == 0)
            {
                break;
            }

            foreach (var pid in found)
            {
                NativeMethods.Kill(pid, NativeMethods.SigStop);
                stopped.Add(pid);
            }
        }

        NativeMethods.Kill(-sessionId, NativeMethods.SigKill);
        foreach (var pid in stopped)
        {
            NativeMethods.Kill(pid, NativeMethods.SigKill);
        }
    }

    /// <summary>
    /// Finds the processes of a session or group with the id <paramref name="sessionId"/>, plus all their
    /// descendants wherever those went.
    /// </summary>
    public static HashSet<int> FindMembers(int sessionId)
    {
        var processes = ReadAll();
        var members = new HashSet<int>();
        var childrenOf = new Dictionary<int, List<int>>();
        foreach (var process in processes)
        {
            if (process.Session == sessionId || process.Group == sessionId)
            {
                members.Add(process.Pid);
            }

            if (!childrenOf.TryGetValue(process.ParentPid, out var children))
            {
                children = [];
                childrenOf[process.ParentPid] = children;
            }

            children.Add(process.Pid);
        }

        var pending = new Stack<int>(members);
        while (pending.Count > 0)
        {
            if (!childrenOf.TryGetValue(pending.Pop(), out var children))
            {
                continue;
            }

            foreach (var child in children)
            {
                if (members.Add(child))
                {
                    pending.Push(child);
                }
            }
        }

        return members;
    }

    /// <summary>Whether a process exists and has not yet exited (a zombie counts as exited).</summary>
    public static bool IsRunning(int pid)
    {
        var status = TryReadStat(pid);
        return status is not null && status.Value.State != 'Z' && status.Value.State != 'X';
    }

    /// <summary>
    /// When a process started, in clock ticks since boot, or null when there is no such process. With the pid it
    /// names one process for good: a pid can be reused, but not at the same start time.
    /// </summary>
    public static long? ReadStartTime(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat", Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // Field 22 of the line, counted from the state (field 3) that follows the parenthesised command name.
        var close = text.LastIndexOf(')');
        var fields = close < 0 ? [] : text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 19
            && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                ? ticks
                : null;
    }

    /// <summary>Resets a process's peak resident set size to its current size; false when the kernel refused.</summary>
    public static bool TryResetPeakMemory(int pid)
    {
        try
        {
            using var handle = File.OpenHandle($"/proc/{pid}/clear_refs", FileMode.Open, FileAccess.Write);
            RandomAccess.Write(handle, s_resetPeak, 0);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Reads a process's peak resident set size (<c>VmHWM</c>) in bytes, or null when it is gone.</summary>
    public static long? ReadPeakMemoryBytes(int pid)
    {
        var kilobytes = ReadNumberAfter($"/proc/{pid}/status", s_vmHwm, 4096);
        return kilobytes * 1024;
    }

    /// <summary>
    /// Reads how many processes the kernel's out-of-memory killer has killed since boot, or -1 when the kernel does
    /// not say.
    /// </summary>
    public static long ReadOomKillCount() => ReadNumberAfter("/proc/vmstat", s_oomKill, 16384) ?? -1;

    private static long? ReadNumberAfter(string path, byte[] label, int bufferSize)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
        try
        {
            int length;
            try
            {
                using SafeFileHandle handle = File.OpenHandle(path);
                length = ReadToEnd(handle, buffer);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }

            var text = buffer.AsSpan(0, length);
            var at = text.IndexOf(label);
            if (at < 0)
            {
                return null;
            }

            text = text[(at + label.Length)..].TrimStart(" \t"u8);
            var end = text.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
            var digits = end < 0 ? text : text[..end];
            return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int ReadToEnd(SafeFileHandle handle, byte[] buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = RandomAccess.Read(handle, buffer.AsSpan(total), total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private static List<ProcessStat> ReadAll()
    {
        var result = new List<ProcessStat>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(directory);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]) || !int.TryParse(name, out var pid))
            {
                continue;
            }

            if (TryReadStat(pid) is { } stat)
            {
                result.Add(stat);
            }
        }

        return result;
    }

    private static ProcessStat? TryReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat", Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name is in parentheses and may itself contain spaces and parentheses.
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return null;
        }

        var fields = text[(close + 2)..].Split(' ', 5);
        if (fields.Length < 5
            || !int.TryParse(fields[1], out var parent)
            || !int.TryParse(fields[2], out var group)
            || !int.TryParse(fields[3], out var session))
        {
            return null;
        }

        return new ProcessStat(pid, fields[0][0], parent, group, session);
    }

    private readonly record struct ProcessStat(int Pid, char State, int ParentPid, int Group, int Session);
}
