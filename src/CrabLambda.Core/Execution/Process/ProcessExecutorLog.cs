using Microsoft.Extensions.Logging;

namespace CrabLambda.Execution.Process;

/// <summary>
/// What the process executor and the built-in runtimes log. Never a function's event or output.
/// </summary>
internal static partial class ProcessExecutorLog
{
    [LoggerMessage(
        EventId = 1101,
        EventName = "WorkerStarted",
        Level = LogLevel.Debug,
        Message = "Started worker {WorkerId} (process {ProcessId}) for {FunctionName} version {Version} ({Runtime}).")]
    public static partial void WorkerStarted(
        ILogger logger,
        string workerId,
        int processId,
        string functionName,
        int version,
        string runtime);

    [LoggerMessage(
        EventId = 1102,
        EventName = "WorkerStopped",
        Level = LogLevel.Debug,
        Message = "Stopped worker {WorkerId} (process {ProcessId}): {Reason}.")]
    public static partial void WorkerStopped(ILogger logger, string workerId, int? processId, string reason);

    [LoggerMessage(
        EventId = 1103,
        EventName = "WorkerTimedOut",
        Level = LogLevel.Warning,
        Message = "Killed worker {WorkerId} (process {ProcessId}) of {FunctionName} version {Version}: execution "
            + "{ExecutionId} ran past its {TimeoutSecs} s timeout.")]
    public static partial void WorkerTimedOut(
        ILogger logger,
        string workerId,
        int processId,
        string functionName,
        int version,
        Guid executionId,
        int timeoutSecs);

    [LoggerMessage(
        EventId = 1104,
        EventName = "WorkerDied",
        Level = LogLevel.Warning,
        Message = "Worker {WorkerId} (process {ProcessId}) of {FunctionName} version {Version} died during execution "
            + "{ExecutionId}: {Reason}")]
    public static partial void WorkerDied(
        ILogger logger,
        string workerId,
        int processId,
        string functionName,
        int version,
        Guid executionId,
        string reason);

    [LoggerMessage(
        EventId = 1105,
        EventName = "WorkerStartFailed",
        Level = LogLevel.Warning,
        Message = "Worker {WorkerId} for {FunctionName} version {Version} did not start: {Reason}")]
    public static partial void WorkerStartFailed(
        ILogger logger,
        string workerId,
        string functionName,
        int version,
        string reason);

    [LoggerMessage(
        EventId = 1106,
        EventName = "WorkerStopFailed",
        Level = LogLevel.Error,
        Message = "Stopping worker {WorkerId} failed.")]
    public static partial void WorkerStopFailed(ILogger logger, string workerId, Exception exception);

    [LoggerMessage(
        EventId = 1108,
        EventName = "GenericWorkersOn",
        Level = LogLevel.Information,
        Message = "Pre-started workers: {Count} per runtime for {Runtimes} (network {Network}), started in the "
            + "background; each serves one function version that needs a new worker.")]
    public static partial void GenericWorkersOn(ILogger logger, int count, string runtimes, string network);

    [LoggerMessage(
        EventId = 1109,
        EventName = "GenericWorkersOff",
        Level = LogLevel.Information,
        Message = "Pre-started workers are off: {Reason}.")]
    public static partial void GenericWorkersOff(ILogger logger, string reason);

    [LoggerMessage(
        EventId = 1110,
        EventName = "GenericWorkerStarted",
        Level = LogLevel.Debug,
        Message = "Pre-started worker {WorkerId} (process {ProcessId}) for the {Runtime} runtime.")]
    public static partial void GenericWorkerStarted(ILogger logger, string workerId, int processId, string runtime);

    [LoggerMessage(
        EventId = 1111,
        EventName = "GenericWorkerStartFailed",
        Level = LogLevel.Warning,
        Message = "Could not pre-start a worker for the {Runtime} runtime: {Reason}")]
    public static partial void GenericWorkerStartFailed(ILogger logger, string runtime, string reason);

    [LoggerMessage(
        EventId = 1112,
        EventName = "GenericWorkerTaken",
        Level = LogLevel.Debug,
        Message = "Pre-started worker {WorkerId} (process {ProcessId}) was given {FunctionName} version {Version}.")]
    public static partial void GenericWorkerTaken(
        ILogger logger,
        string workerId,
        int processId,
        string functionName,
        int version);

    [LoggerMessage(
        EventId = 1113,
        EventName = "GenericWorkerNotTaken",
        Level = LogLevel.Warning,
        Message = "Pre-started worker {WorkerId} could not be given {FunctionName} version {Version}, which starts a "
            + "worker of its own: {Reason}")]
    public static partial void GenericWorkerNotTaken(
        ILogger logger,
        string workerId,
        string functionName,
        int version,
        string reason);

    [LoggerMessage(
        EventId = 1114,
        EventName = "GenericWorkerAboveMemoryLimit",
        Level = LogLevel.Debug,
        Message = "Pre-started worker {WorkerId} already uses more than the {MemoryMb} MB of {FunctionName} version "
            + "{Version}, which starts a worker of its own.")]
    public static partial void GenericWorkerAboveMemoryLimit(
        ILogger logger,
        string workerId,
        int memoryMb,
        string functionName,
        int version);

    [LoggerMessage(
        EventId = 1115,
        EventName = "ShutdownWaiting",
        Level = LogLevel.Information,
        Message = "Shutting down: {Running} executions still running and {Waiting} waiting for a slot get up to "
            + "{GraceSecs} s to finish.")]
    public static partial void ShutdownWaiting(ILogger logger, int running, int waiting, double graceSecs);

    [LoggerMessage(
        EventId = 1116,
        EventName = "ShutdownStoppingExecutions",
        Level = LogLevel.Warning,
        Message = "Shutting down: stopping {Running} executions still running after {GraceSecs} s; they are "
            + "recorded as errors. {Waiting} still waiting for a slot are answered 503 and not recorded.")]
    public static partial void ShutdownStoppingExecutions(ILogger logger, int running, int waiting, double graceSecs);

    [LoggerMessage(
        EventId = 1117,
        EventName = "ShutdownRecordsPending",
        Level = LogLevel.Error,
        Message = "Shutting down: {Count} stopped executions were still not recorded after {WaitSecs} s; they are "
            + "lost.")]
    public static partial void ShutdownRecordsPending(ILogger logger, int count, double waitSecs);

    [LoggerMessage(
        EventId = 1118,
        EventName = "LeftoverFoldersRemoved",
        Level = LogLevel.Information,
        Message = "Removed the work folders of {Count} executors of servers that are gone: {Folders}.")]
    public static partial void LeftoverFoldersRemoved(ILogger logger, int count, string folders);

    [LoggerMessage(
        EventId = 1107,
        EventName = "InterpreterResolved",
        Level = LogLevel.Information,
        Message = "The {Runtime} runtime runs {Interpreter} (version {InterpreterVersion}).")]
    public static partial void InterpreterResolved(
        ILogger logger,
        string runtime,
        string interpreter,
        string interpreterVersion);
}
