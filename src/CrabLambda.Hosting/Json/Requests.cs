using System.Text.Json.Serialization;

namespace CrabLambda.Hosting.Json;

// The bodies as the OpenAPI document describes them. They are read field by field (FunctionBody), so that one
// answer names every bad field; a field that is not listed here is refused, and the schema says so.

/// <summary>The body of <c>POST /functions</c>.</summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record CreateFunctionRequest(
    [property: JsonPropertyName("name")] string? Name = null,
    [property: JsonPropertyName("runtime")] string? Runtime = null,
    [property: JsonPropertyName("code")] string? Code = null,
    [property: JsonPropertyName("handler")] string? Handler = null,
    [property: JsonPropertyName("memory_mb")] int? MemoryMb = null,
    [property: JsonPropertyName("timeout_secs")] int? TimeoutSecs = null,
    [property: JsonPropertyName("network")] bool? Network = null);

/// <summary>
/// The body of <c>PUT /functions/{name}</c>. <c>name</c> and <c>runtime</c> cannot change, but are accepted when
/// they match, so that the body of a create can be sent again as an update.
/// </summary>
[JsonNumberHandling(JsonNumberHandling.Strict)]
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record UpdateFunctionRequest(
    [property: JsonPropertyName("name")] string? Name = null,
    [property: JsonPropertyName("runtime")] string? Runtime = null,
    [property: JsonPropertyName("code")] string? Code = null,
    [property: JsonPropertyName("handler")] string? Handler = null,
    [property: JsonPropertyName("memory_mb")] int? MemoryMb = null,
    [property: JsonPropertyName("timeout_secs")] int? TimeoutSecs = null,
    [property: JsonPropertyName("network")] bool? Network = null);
