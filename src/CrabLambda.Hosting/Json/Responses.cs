using System.Text.Json.Serialization;
using CrabLambda.Execution;
using CrabLambda.Functions;

namespace CrabLambda.Hosting.Json;

// Strict number handling on every body type keeps the OpenAPI schema honest whatever the host's JSON options.

/// <summary>A function as the API shows it.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
internal sealed record FunctionResponse(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("runtime")] string Runtime,
    [property: JsonPropertyName("handler")] string Handler,
    [property: JsonPropertyName("memory_mb")] int MemoryMb,
    [property: JsonPropertyName("timeout_secs")] int TimeoutSecs,
    [property: JsonPropertyName("network")] bool Network,
    [property: JsonPropertyName("current_version")] int CurrentVersion,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("updated_at")] DateTimeOffset UpdatedAt)
{
    public static FunctionResponse From(Function function) => new(
        function.Id,
        function.Name,
        function.Runtime,
        function.Handler,
        function.MemoryMb,
        function.TimeoutSecs,
        function.Network,
        function.CurrentVersion,
        function.CreatedAt,
        function.UpdatedAt);
}

/// <summary>One version with its code.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
internal sealed record VersionResponse(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("code")] string Code,
    [property: JsonPropertyName("code_hash")] string CodeHash,
    [property: JsonPropertyName("runtime")] string Runtime,
    [property: JsonPropertyName("handler")] string Handler,
    [property: JsonPropertyName("memory_mb")] int MemoryMb,
    [property: JsonPropertyName("timeout_secs")] int TimeoutSecs,
    [property: JsonPropertyName("network")] bool Network,
    [property: JsonPropertyName("deployed_at")] DateTimeOffset DeployedAt)
{
    public static VersionResponse From(FunctionVersion version) => new(
        version.Version,
        version.Code,
        version.CodeHash,
        version.Runtime,
        version.Handler,
        version.MemoryMb,
        version.TimeoutSecs,
        version.Network,
        version.DeployedAt);
}

/// <summary>One version in a listing: everything but the code, which can be megabytes.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
internal sealed record VersionSummaryResponse(
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("code_hash")] string CodeHash,
    [property: JsonPropertyName("runtime")] string Runtime,
    [property: JsonPropertyName("handler")] string Handler,
    [property: JsonPropertyName("memory_mb")] int MemoryMb,
    [property: JsonPropertyName("timeout_secs")] int TimeoutSecs,
    [property: JsonPropertyName("network")] bool Network,
    [property: JsonPropertyName("deployed_at")] DateTimeOffset DeployedAt)
{
    public static VersionSummaryResponse From(FunctionVersion version) => new(
        version.Version,
        version.CodeHash,
        version.Runtime,
        version.Handler,
        version.MemoryMb,
        version.TimeoutSecs,
        version.Network,
        version.DeployedAt);
}

/// <summary>An execution record; the event and the return value are embedded as JSON values.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
internal sealed record ExecutionResponse(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("function_id")] Guid FunctionId,
    [property: JsonPropertyName("function_name")] string FunctionName,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("input")] RawJson Input,
    [property: JsonPropertyName("output")] RawJson Output,
    [property: JsonPropertyName("error")] string? Error,
    [property: JsonPropertyName("duration_ms")] double DurationMs,
    [property: JsonPropertyName("memory_used_mb")] double? MemoryUsedMb,
    [property: JsonPropertyName("executed_at")] DateTimeOffset ExecutedAt)
{
    public static ExecutionResponse From(Execution.Execution execution) => new(
        execution.Id,
        execution.FunctionId,
        execution.FunctionName,
        execution.Version,
        execution.Status.ToName(),
        new RawJson(execution.Input),
        new RawJson(execution.Output),
        execution.Error,
        execution.DurationMs,
        execution.MemoryUsedMb,
        execution.ExecutedAt);
}

/// <summary>One line a function wrote.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
internal sealed record LogLineResponse(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("execution_id")] Guid ExecutionId,
    [property: JsonPropertyName("level")] string Level,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("timestamp")] DateTimeOffset Timestamp)
{
    public static LogLineResponse From(ExecutionLogLine line) => new(
        line.Id,
        line.ExecutionId,
        line.Level,
        line.Message,
        line.Timestamp);
}

/// <summary>The answer to an invocation; the return value is embedded as a JSON value.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
internal sealed record InvocationResponse(
    [property: JsonPropertyName("execution_id")] Guid ExecutionId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("output")] RawJson Output,
    [property: JsonPropertyName("error")] string? Error,
    [property: JsonPropertyName("duration_ms")] double DurationMs,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("memory_used_mb")] double? MemoryUsedMb)
{
    public static InvocationResponse From(InvocationResult result) => new(
        result.ExecutionId,
        result.Status.ToName(),
        new RawJson(result.Output),
        result.Error,
        result.DurationMs,
        result.Version,
        result.MemoryUsedMb);
}

/// <summary>One page of a listing.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
internal sealed record ListResponse<T>(
    [property: JsonPropertyName("items")] IReadOnlyList<T> Items,
    [property: JsonPropertyName("page")] int Page,
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("total")] long Total);
