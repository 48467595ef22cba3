using CrabLambda.Functions;
using CrabLambda.Hosting.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace CrabLambda.Hosting;

/// <summary>
/// The handlers that run functions and read their execution records.
/// </summary>
internal static class InvocationEndpoints
{
    public static Task<IResult> InvokeCurrentAsync(
        string name,
        HttpRequest request,
        [FromServices] IFunctionClient client,
        [FromServices] IOptions<CrabLambdaOptions> options,
        CancellationToken cancellationToken) =>
        InvokeAsync(name, version: null, request, client, options.Value, cancellationToken);

    public static Task<IResult> InvokeVersionAsync(
        string name,
        string version,
        HttpRequest request,
        [FromServices] IFunctionClient client,
        [FromServices] IOptions<CrabLambdaOptions> options,
        CancellationToken cancellationToken)
    {
        if (!RouteArguments.TryParseVersion(version, out var number, out var problem))
        {
            return Task.FromResult(problem!);
        }

        return InvokeAsync(name, number, request, client, options.Value, cancellationToken);
    }

    public static async Task<IResult> ListExecutionsAsync(
        string name,
        [FromQuery] string? status,
        [FromQuery] string? limit,
        [FromQuery] string? before,
        [FromServices] IFunctionClient client,
        HttpContext context,
        CancellationToken cancellationToken)
    {
        if (!RouteArguments.TryParseStatus(status, out var wanted, out var problem)
            || !RouteArguments.TryParseLimit(
                limit,
                RouteArguments.DefaultExecutionsPerPage,
                RouteArguments.MaxExecutionsPerPage,
                out var count,
                out problem)
            || !RouteArguments.TryParseBefore(before, out var olderThan, out problem))
        {
            return problem!;
        }

        var executions = await client.ListExecutionsAsync(name, wanted, count, olderThan, cancellationToken);

        // A page may end early at its size in text, so only an empty page tells that the history has ended.
        if (executions.Count > 0)
        {
            context.Response.Headers.Link = NextPageLink(context.Request, executions[^1].Id);
        }

        var items = executions.Select(ExecutionResponse.From).ToArray();
        return TypedResults.Json(items, HostingJsonContext.Default.ExecutionResponseArray);
    }

    private static string NextPageLink(HttpRequest request, Guid last)
    {
        var query = request.Query
            .Where(parameter => !parameter.Key.Equals("before", StringComparison.OrdinalIgnoreCase))
            .SelectMany(parameter => parameter.Value.Select(value => KeyValuePair.Create(parameter.Key, value)))
            .Append(KeyValuePair.Create("before", (string?)last.ToString("D")));
        return $"<{request.PathBase}{request.Path}{QueryString.Create(query)}>; rel=\"next\"";
    }

    public static async Task<IResult> GetExecutionAsync(
        string id,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        if (!RouteArguments.TryParseExecutionId(id, out var executionId, out var problem))
        {
            return problem!;
        }

        var execution = await client.GetExecutionAsync(executionId, cancellationToken);
        return TypedResults.Json(ExecutionResponse.From(execution), HostingJsonContext.Default.ExecutionResponse);
    }

    public static async Task<IResult> GetLogsAsync(
        string id,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        if (!RouteArguments.TryParseExecutionId(id, out var executionId, out var problem))
        {
            return problem!;
        }

        var lines = await client.GetLogsAsync(executionId, cancellationToken);

        var items = lines.Select(LogLineResponse.From).ToArray();
        return TypedResults.Json(items, HostingJsonContext.Default.LogLineResponseArray);
    }

    private static async Task<IResult> InvokeAsync(
        string name,
        int? version,
        HttpRequest request,
        IFunctionClient client,
        CrabLambdaOptions options,
        CancellationToken cancellationToken)
    {
        var limit = BodyLimits.Event(options);
        var body = await RequestBody.ReadAsync(request, limit, cancellationToken);
        if (body is null)
        {
            return Problems.BodyTooLarge(limit, "an event");
        }

        var functionEvent = JsonBody.ReadEvent(body, out var problem);
        if (functionEvent is null)
        {
            return problem!;
        }

        var result = await client.InvokeAsync(name, functionEvent.Value, version, cancellationToken);
        return TypedResults.Json(InvocationResponse.From(result), HostingJsonContext.Default.InvocationResponse);
    }
}
