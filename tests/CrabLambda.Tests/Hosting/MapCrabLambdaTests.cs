using System.Net;
using CrabLambda.Functions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Moq;

namespace CrabLambda.Tests.Hosting;

public sealed class MapCrabLambdaTests
{
    [Fact]
    public async Task MapCrabLambda_InsideAHostGroup_ServesUnderBothPrefixesWithTheHostsFilters()
    {
        var hostFilterRan = false;
        var host = await RouteHost.StartAsync(map: app =>
            app.MapGroup("/faas")
                .AddEndpointFilter(async (context, next) =>
                {
                    hostFilterRan = true;
                    return await next(context);
                })
                .MapCrabLambda("/v1"));
        await using var _ = host;
        host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function());

        var response = await host.Http.PostAsync(
            "faas/v1/functions",
            RouteHost.Json("""{"name":"hello","runtime":"python","code":"x","handler":"h"}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("/faas/v1/functions/hello", response.Headers.Location?.OriginalString);
        Assert.True(hostFilterRan);
    }

    [Fact]
    public async Task MapCrabLambda_NoPrefix_ServesAtTheRoot()
    {
        var host = await RouteHost.StartAsync(map: app => app.MapCrabLambda());
        await using var _ = host;
        host.Client
            .Setup(c => c.GetAsync("hello", It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function());

        var response = await host.Http.GetAsync("functions/hello");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task MapCrabLambda_ReturnedGroup_LetsTheHostAddConventions()
    {
        var host = await RouteHost.StartAsync(map: app =>
            app.MapCrabLambda("/api").AddEndpointFilter((_, _) =>
                ValueTask.FromResult<object?>(Results.StatusCode(StatusCodes.Status418ImATeapot))));
        await using var _ = host;

        var response = await host.Http.GetAsync("api/functions/hello");

        Assert.Equal((HttpStatusCode)StatusCodes.Status418ImATeapot, response.StatusCode);
        host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public void MapCrabLambda_WithoutAddCrabLambda_ThrowsSayingWhatToCall()
    {
        var app = WebApplication.CreateSlimBuilder().Build();

        var exception = Assert.Throws<InvalidOperationException>(() => app.MapCrabLambda("/api"));

        Assert.Contains("AddCrabLambda", exception.Message);
    }

    [Fact]
    public async Task MapCrabLambda_UnknownRoute_Is404()
    {
        var host = await RouteHost.StartAsync();
        await using var _ = host;

        var response = await host.Http.GetAsync("api/nothing-here");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
