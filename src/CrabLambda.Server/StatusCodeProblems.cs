using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.AspNetCore.WebUtilities;

namespace CrabLambda.Server;

/// <summary>
/// The problems of answers that no route wrote: a path with no route (404), a method its route does not take (405),
/// and any other status a middleware set without a body. Each names the request and says what to do instead.
/// </summary>
internal static class StatusCodeProblems
{
    private const string OpenApiPath = "/openapi/v1.json";

    /// <summary>Writes the problem for the response's status; the handler of <c>UseStatusCodePages</c>.</summary>
    public static Task WriteAsync(StatusCodeContext context)
    {
        var http = context.HttpContext;
        var status = http.Response.StatusCode;
        var path = (http.Request.PathBase + http.Request.Path).ToString();

        var problem = status switch
        {
            StatusCodes.Status404NotFound => TypedResults.Problem(
                $"No route matches {http.Request.Method} {path}. The routes are listed in the OpenAPI document at "
                    + $"{OpenApiPath}.",
                statusCode: status,
                title: "Not found"),
            StatusCodes.Status405MethodNotAllowed => MethodNotAllowed(http, path),
            _ => TypedResults.Problem(
                $"The server answered {http.Request.Method} {path} with {status} "
                    + $"{ReasonPhrases.GetReasonPhrase(status)} and no further reason.",
                statusCode: status),
        };
        return problem.ExecuteAsync(http);
    }

    private static IResult MethodNotAllowed(HttpContext http, string path)
    {
        var allowed = AllowedMethods(http);
        http.Response.Headers.Allow = string.Join(", ", allowed);

        var detail = allowed.Count == 0
            ? $"{http.Request.Method} is not allowed on {path}, and no method is."
            : $"{http.Request.Method} is not allowed on {path}; use {Join(allowed)}.";
        return TypedResults.Problem(
            detail,
            statusCode: StatusCodes.Status405MethodNotAllowed,
            title: "Method not allowed");
    }

    /// <summary>
    /// The methods the path takes: the <c>Allow</c> header that routing set with its 405, or else those of the routes
    /// whose template matches the path.
    /// </summary>
    internal static IReadOnlyList<string> AllowedMethods(HttpContext http)
    {
        var header = http.Response.Headers.Allow.ToString();
        if (header.Length > 0)
        {
            return header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        }

        var endpoints = http.RequestServices.GetService<EndpointDataSource>()?.Endpoints ?? [];
        var methods = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var endpoint in endpoints.OfType<RouteEndpoint>())
        {
            // NOTE: route constraints are not checked, so a route whose constraint refuses the path still counts.
            // Routing's own 405 always carries its Allow header; this only serves a 405 written by other code.
            var matcher = new TemplateMatcher(
                new RouteTemplate(endpoint.RoutePattern),
                new RouteValueDictionary(endpoint.RoutePattern.Defaults));
            if (endpoint.Metadata.GetMetadata<IHttpMethodMetadata>() is { } metadata
                && matcher.TryMatch(http.Request.Path, new RouteValueDictionary()))
            {
                methods.UnionWith(metadata.HttpMethods);
            }
        }

        return [.. methods];
    }

    private static string Join(IReadOnlyList<string> methods) => methods.Count == 1
        ? methods[0]
        : string.Join(", ", methods.Take(methods.Count - 1)) + " or " + methods[^1];
}
