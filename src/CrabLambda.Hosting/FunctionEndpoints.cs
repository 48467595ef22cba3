using CrabLambda.Functions;
using CrabLambda.Hosting.Json;
using CrabLambda.Runtimes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace CrabLambda.Hosting;

/// <summary>
/// The handlers of the function routes: deploy, inspect, change, delete and roll back.
/// </summary>
internal static class FunctionEndpoints
{
    public static async Task<IResult> CreateAsync(
        HttpRequest request,
        [FromServices] IFunctionClient client,
        [FromServices] IOptions<CrabLambdaOptions> options,
        CancellationToken cancellationToken)
    {
        var limit = BodyLimits.Definition(options.Value);
        var body = await RequestBody.ReadAsync(request, limit, cancellationToken);
        if (body is null)
        {
            return Problems.BodyTooLarge(limit, "a function definition");
        }

        var definition = JsonBody.ReadFunction(body, options.Value, out var problem);
        if (definition is null)
        {
            return problem!;
        }

        var function = await client.CreateAsync(
            new FunctionDefinition(
                definition.Name,
                definition.Runtime,
                definition.Code,
                definition.Handler,
                definition.MemoryMb,
                definition.TimeoutSecs,
                definition.Network),
            cancellationToken);

        // Relative to the request, so the link is right under any prefix or group the host mapped the routes in.
        request.HttpContext.Response.Headers.Location =
            $"{request.PathBase}{request.Path.Value?.TrimEnd('/')}/{Uri.EscapeDataString(function.Name)}";
        return TypedResults.Json(
            FunctionResponse.From(function),
            HostingJsonContext.Default.FunctionResponse,
            statusCode: StatusCodes.Status201Created);
    }

    public static async Task<IResult> ListAsync(
        [FromQuery] string? page,
        [FromQuery] string? limit,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        if (!RouteArguments.TryParsePage(page, out var pageNumber, out var problem)
            || !RouteArguments.TryParseLimit(
                limit,
                RouteArguments.DefaultFunctionsPerPage,
                RouteArguments.MaxFunctionsPerPage,
                out var pageSize,
                out problem))
        {
            return problem!;
        }

        var list = await client.ListAsync(pageNumber, pageSize, cancellationToken);

        var items = list.Items.Select(FunctionResponse.From).ToArray();
        return TypedResults.Json(
            new ListResponse<FunctionResponse>(items, list.Page, list.Limit, list.Total),
            HostingJsonContext.Default.ListResponseFunctionResponse);
    }

    public static async Task<IResult> GetAsync(
        string name,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        var function = await client.GetAsync(name, cancellationToken);
        return TypedResults.Json(FunctionResponse.From(function), HostingJsonContext.Default.FunctionResponse);
    }

    public static async Task<IResult> UpdateAsync(
        string name,
        HttpRequest request,
        [FromServices] IFunctionClient client,
        [FromServices] IOptions<CrabLambdaOptions> options,
        [FromServices] IEnumerable<IRuntime> runtimes,
        CancellationToken cancellationToken)
    {
        var limit = BodyLimits.Definition(options.Value);
        var body = await RequestBody.ReadAsync(request, limit, cancellationToken);
        if (body is null)
        {
            return Problems.BodyTooLarge(limit, "a function definition");
        }

        var update = JsonBody.ReadFunction(body, options.Value, out var problem);
        if (update is null)
        {
            return problem!;
        }

        if (update.Name is not null || update.Runtime is not null)
        {
            var current = await client.GetAsync(name, cancellationToken);
            var immutable = ImmutableFieldErrors(current, update, runtimes);
            if (immutable.Count > 0)
            {
                return Problems.Invalid(immutable);
            }
        }

        var function = await client.UpdateAsync(
            name,
            new FunctionUpdate(update.Code, update.Handler, update.MemoryMb, update.TimeoutSecs, update.Network),
            cancellationToken);
        return TypedResults.Json(FunctionResponse.From(function), HostingJsonContext.Default.FunctionResponse);
    }

    public static async Task<IResult> DeleteAsync(
        string name,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        await client.DeleteAsync(name, cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<IResult> ListVersionsAsync(
        string name,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        var versions = await client.ListVersionsAsync(name, cancellationToken);

        var items = versions.Select(VersionSummaryResponse.From).ToArray();
        return TypedResults.Json(items, HostingJsonContext.Default.VersionSummaryResponseArray);
    }

    public static async Task<IResult> GetVersionAsync(
        string name,
        string version,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        if (!RouteArguments.TryParseVersion(version, out var number, out var problem))
        {
            return problem!;
        }

        var found = await client.GetVersionAsync(name, number, cancellationToken);
        return TypedResults.Json(VersionResponse.From(found), HostingJsonContext.Default.VersionResponse);
    }

    public static async Task<IResult> RollbackAsync(
        string name,
        string version,
        [FromServices] IFunctionClient client,
        CancellationToken cancellationToken)
    {
        if (!RouteArguments.TryParseVersion(version, out var number, out var problem))
        {
            return problem!;
        }

        var function = await client.RollbackAsync(name, number, cancellationToken);
        return TypedResults.Json(FunctionResponse.From(function), HostingJsonContext.Default.FunctionResponse);
    }

    private static Dictionary<string, string[]> ImmutableFieldErrors(
        Function current,
        FunctionBody update,
        IEnumerable<IRuntime> runtimes)
    {
        var errors = new Dictionary<string, string[]>();
        if (update.Name is not null && update.Name != current.Name)
        {
            errors["name"] =
            [
                $"A function cannot be renamed: this is '{current.Name}'. Create a function with the new name.",
            ];
        }

        if (update.Runtime is not null && CanonicalRuntime(update.Runtime, runtimes) != current.Runtime)
        {
            errors["runtime"] =
            [
                $"The runtime of '{current.Name}' is {current.Runtime} and cannot change. "
                    + "Create a new function for another runtime.",
            ];
        }

        return errors;
    }

    private static string CanonicalRuntime(string name, IEnumerable<IRuntime> runtimes) =>
        runtimes.FirstOrDefault(r => r.Name == name || r.Aliases.Contains(name))?.Name ?? name;
}
