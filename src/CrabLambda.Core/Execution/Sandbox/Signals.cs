using System.Runtime.InteropServices;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Sends SIGKILL through libc, for processes that <see cref="System.Diagnostics.Process"/> does not own.
/// </summary>
internal static class Signals
{
    private const int SigKill = 9;

    /// <summary>Kills a process; a process that is already gone is not an error.</summary>
    public static void Kill(int pid) => _ = NativeKill(pid, SigKill);

    /// <summary>Kills every process of a process group.</summary>
    public static void KillGroup(int processGroupId) => _ = NativeKill(-processGroupId, SigKill);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int NativeKill(int pid, int signal);
}
