using System.Text.Json.Serialization;

namespace CrabLambda.Hosting.Json;

/// <summary>The body of <c>POST /functions</c>.</summary>
internal sealed record CreateFunctionRequest(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("runtime")] string? Runtime,
    [property: JsonPropertyName("code")] string? Code,
    [property: JsonPropertyName("handler")] string? Handler,
    [property: JsonPropertyName("memory_mb")] int? MemoryMb,
    [property: JsonPropertyName("timeout_secs")] int? TimeoutSecs,
    [property: JsonPropertyName("network")] bool? Network);

/// <summary>
/// The body of <c>PUT /functions/{name}</c>. <c>name</c> and <c>runtime</c> cannot change, but are accepted when
/// they match, so that the body of a create can be sent again as an update.
/// </summary>
internal sealed record UpdateFunctionRequest(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("runtime")] string? Runtime,
    [property: JsonPropertyName("code")] string? Code,
    [property: JsonPropertyName("handler")] string? Handler,
    [property: JsonPropertyName("memory_mb")] int? MemoryMb,
    [property: JsonPropertyName("timeout_secs")] int? TimeoutSecs,
    [property: JsonPropertyName("network")] bool? Network);
