using System.Text.Json.Serialization;

namespace CrabLambda.Hosting.Json;

/// <summary>
/// Source-generated serialisation of the API's bodies, independent of the host application's JSON options.
/// </summary>
[JsonSourceGenerationOptions(
    GenerationMode = JsonSourceGenerationMode.Default,
    NumberHandling = JsonNumberHandling.Strict,
    PropertyNameCaseInsensitive = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(FunctionResponse))]
[JsonSerializable(typeof(ListResponse<FunctionResponse>))]
[JsonSerializable(typeof(VersionResponse))]
[JsonSerializable(typeof(VersionSummaryResponse[]))]
[JsonSerializable(typeof(ExecutionResponse))]
[JsonSerializable(typeof(ExecutionResponse[]))]
[JsonSerializable(typeof(LogLineResponse[]))]
[JsonSerializable(typeof(InvocationResponse))]
internal sealed partial class HostingJsonContext : JsonSerializerContext;
