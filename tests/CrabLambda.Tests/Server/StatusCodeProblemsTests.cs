using System.Text.Json;
using CrabLambda.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace CrabLambda.Tests.Server;

/// <summary>
/// The server's problems for answers no route wrote, for a 405 that came without the <c>Allow</c> header routing
/// sets: the end-to-end tests cover the 405 of routing itself.
/// </summary>
public sealed class StatusCodeProblemsTests
{
    private static readonly RouteEndpoint[] s_routes =
    [
        Route("/api/functions/{name}", "GET", "PUT"),
        Route("/api/functions/{name}", "DELETE"),
        Route("/api/functions", "GET", "POST"),
        Route("/api/functions/{name}/invoke", "POST"),
    ];

    [Fact]
    public async Task WriteAsync_405WithoutAllow_SetsAllowFromTheRoutesOfThePathAndNamesThem()
    {
        var http = Request("PATCH", "/api/functions/x");

        var problem = await WriteAsync(http);

        Assert.Equal("DELETE, GET, PUT", http.Response.Headers.Allow.ToString());
        Assert.Equal("application/problem+json", http.Response.ContentType);
        Assert.Equal(405, problem.GetProperty("status").GetInt32());
        Assert.Equal("Method not allowed", problem.GetProperty("title").GetString());
        Assert.Equal(
            "PATCH is not allowed on /api/functions/x; use DELETE, GET or PUT.",
            problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task WriteAsync_405WithoutAllowOnAPathNoRouteMatches_SaysNoMethodIs()
    {
        var http = Request("GET", "/elsewhere");

        var problem = await WriteAsync(http);

        Assert.True(http.Response.Headers.ContainsKey("Allow"));
        Assert.Equal("", http.Response.Headers.Allow.ToString());
        Assert.Equal(
            "GET is not allowed on /elsewhere, and no method is.",
            problem.GetProperty("detail").GetString());
    }

    private static DefaultHttpContext Request(string method, string path)
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddProblemDetails()
            .AddSingleton<EndpointDataSource>(new DefaultEndpointDataSource(s_routes))
            .BuildServiceProvider();
        var http = new DefaultHttpContext { RequestServices = services };
        http.Request.Method = method;
        http.Request.Path = path;
        http.Response.Body = new MemoryStream();
        http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        return http;
    }

    private static async Task<JsonElement> WriteAsync(DefaultHttpContext http)
    {
        var context = new StatusCodeContext(http, new StatusCodePagesOptions(), _ => Task.CompletedTask);

        await StatusCodeProblems.WriteAsync(context);

        http.Response.Body.Position = 0;
        using var document = await JsonDocument.ParseAsync(http.Response.Body);
        return document.RootElement.Clone();
    }

    private static RouteEndpoint Route(string pattern, params string[] methods) => new(
        _ => Task.CompletedTask,
        RoutePatternFactory.Parse(pattern),
        order: 0,
        new EndpointMetadataCollection(new HttpMethodMetadata(methods)),
        displayName: pattern);
}
