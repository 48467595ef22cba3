using Microsoft.Extensions.Logging;

namespace CrabLambda.Docker;

/// <summary>What the Docker executor logs. Never a function's event or output.</summary>
internal static partial class DockerLog
{
    [LoggerMessage(
        EventId = 1301,
        EventName = "ContainerStarted",
        Level = LogLevel.Debug,
        Message = "Started container {ContainerId} from {Image} for function {FunctionId} version {Version}.")]
    public static partial void ContainerStarted(
        ILogger logger,
        string containerId,
        string image,
        Guid functionId,
        int version);

    [LoggerMessage(
        EventId = 1302,
        EventName = "ContainerRemoveFailed",
        Level = LogLevel.Warning,
        Message = "Could not remove container {ContainerId}; it is removed at the next start-up.")]
    public static partial void ContainerRemoveFailed(ILogger logger, string containerId, Exception exception);

    [LoggerMessage(
        EventId = 1303,
        EventName = "EngineConnected",
        Level = LogLevel.Information,
        Message = "Executor: docker; workers are containers of the engine at {Endpoint} (Docker {EngineVersion}, "
            + "API {ApiVersion}), labelled crablambda.owner={Owner}")]
    public static partial void EngineConnected(
        ILogger logger,
        string endpoint,
        string engineVersion,
        string apiVersion,
        string owner);

    [LoggerMessage(
        EventId = 1304,
        EventName = "LeftoversRemoved",
        Level = LogLevel.Information,
        Message = "Removed {Count} container(s) that an earlier run of this server left behind.")]
    public static partial void LeftoversRemoved(ILogger logger, int count);

    [LoggerMessage(
        EventId = 1305,
        EventName = "RuntimeImage",
        Level = LogLevel.Information,
        Message = "Runtime {Runtime} runs in image {Image} ({Presence})")]
    public static partial void RuntimeImage(ILogger logger, string runtime, string image, string presence);

    [LoggerMessage(
        EventId = 1306,
        EventName = "RuntimeWithoutImage",
        Level = LogLevel.Warning,
        Message = "Runtime {Runtime} has no Docker image: its functions cannot run until one is set")]
    public static partial void RuntimeWithoutImage(ILogger logger, string runtime);

    [LoggerMessage(
        EventId = 1307,
        EventName = "ContainerLimits",
        Level = LogLevel.Information,
        Message = "Containers run as nobody with a read-only root, a private /tmp, no capabilities, no new privileges, "
            + "no network unless the function allows it, and the function's memory (no swap), a CPU share of one CPU "
            + "per 1024 MB (at least half a CPU) and at most {MaxProcesses} processes")]
    public static partial void ContainerLimits(ILogger logger, int maxProcesses);

    [LoggerMessage(
        EventId = 1308,
        EventName = "ImagePulled",
        Level = LogLevel.Information,
        Message = "Pulled image {Image} for runtime {Runtime}.")]
    public static partial void ImagePulled(ILogger logger, string image, string runtime);
}
