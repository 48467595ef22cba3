using Microsoft.Extensions.Logging;

namespace CrabLambda.Execution.Process;

/// <summary>
/// What every worker of one executor shares: limits, clock, logger and the launcher.
/// </summary>
internal sealed class WorkerSettings
{
    /// <summary>The longest line kept from a worker's stdout or stderr; the rest is replaced by a note.</summary>
    public const int MaxLineBytes = 16 * 1024;

    /// <summary>Room for the message around a return value in a result frame (the error and trace, say).</summary>
    public const int FrameEnvelopeBytes = 1024 * 1024;

    public required IWorkerLauncher Launcher { get; init; }

    public required TimeProvider TimeProvider { get; init; }

    public required ILogger Logger { get; init; }

    /// <summary>The largest return value accepted, in bytes.</summary>
    public required long MaxOutputBytes { get; init; }

    /// <summary>The most log bytes kept per invocation.</summary>
    public required long MaxLogBytes { get; init; }

    /// <summary>The most log lines kept per invocation, besides the note that says what was dropped.</summary>
    public required int MaxLogLines { get; init; }

    /// <summary>The process limit of a worker where cgroups enforce one, for error messages.</summary>
    public int MaxProcesses { get; init; }

    /// <summary>How long a worker may take to start and load the function, on top of the function's timeout.</summary>
    public TimeSpan StartAllowance { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long to wait for the markers on stdout and stderr once the result arrived, and for the streams to end
    /// after a worker was killed.
    /// </summary>
    public TimeSpan OutputGrace { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The largest result frame accepted, in bytes.</summary>
    public long MaxFrameBytes => MaxOutputBytes + FrameEnvelopeBytes;
}
