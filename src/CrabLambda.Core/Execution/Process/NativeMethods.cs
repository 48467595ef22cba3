using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CrabLambda.Execution.Process;

/// <summary>
/// The few libc calls the process executor needs that .NET does not expose.
/// </summary>
internal static class NativeMethods
{
    public const int SigKill = 9;
    public const int SigStop = 19;

    /// <summary>flock's exclusive lock.</summary>
    public const int LockExclusive = 2;

    /// <summary>flock's flag to fail at once instead of waiting for the lock.</summary>
    public const int LockNonBlocking = 4;

    /// <summary>Sends a signal to a process, or to a process group when <paramref name="pid"/> is negative.</summary>
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static extern int Kill(int pid, int signal);

    /// <summary>Makes <paramref name="newPath"/> a second name of the file at <paramref name="oldPath"/>.</summary>
    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    public static extern int Link(string oldPath, string newPath);

    /// <summary>Takes or changes a lock on an open file; it holds until the open file is closed.</summary>
    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static extern int Flock(SafeFileHandle file, int operation);
}
