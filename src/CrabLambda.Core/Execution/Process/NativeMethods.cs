using System.Runtime.InteropServices;

namespace CrabLambda.Execution.Process;

/// <summary>
/// The few libc calls the process executor needs that .NET does not expose.
/// </summary>
internal static class NativeMethods
{
    public const int SigKill = 9;
    public const int SigStop = 19;

    /// <summary>Sends a signal to a process, or to a process group when <paramref name="pid"/> is negative.</summary>
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static extern int Kill(int pid, int signal);
}
