using System.Collections.Concurrent;
using System.Diagnostics;
using OsProcess = System.Diagnostics.Process;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Starts processes from one thread that lives as long as the server.
/// </summary>
/// <remarks>
/// bubblewrap's <c>--die-with-parent</c> uses the kernel's parent-death signal, which fires when the THREAD that
/// forked the process ends, not the process. Starting sandboxes from thread-pool threads, which come and go, would
/// kill healthy workers at random; starting them from this thread ties them to the server's lifetime alone.
/// </remarks>
internal static class ProcessSpawner
{
    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<OsProcess> Done)>
        Requests = [];

    static ProcessSpawner()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "CrabLambda process spawner" };
        thread.Start();
    }

    /// <summary>Starts a process on the spawner thread.</summary>
    public static Task<OsProcess> StartAsync(ProcessStartInfo start)
    {
        var done = new TaskCompletionSource<OsProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((start, done));
        return done.Task;
    }

    private static void Run()
    {
        foreach (var (start, done) in Requests.GetConsumingEnumerable())
        {
            try
            {
                done.SetResult(OsProcess.Start(start)
                    ?? throw new InvalidOperationException($"{start.FileName} did not start."));
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        }
    }
}
