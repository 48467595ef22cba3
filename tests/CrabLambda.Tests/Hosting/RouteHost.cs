using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CrabLambda.Functions;
using CrabLambda.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;

namespace CrabLambda.Tests.Hosting;

/// <summary>
/// A real Kestrel on 127.0.0.1 serving <c>MapCrabLambda</c> over a Moq <see cref="IFunctionClient"/>.
/// </summary>
public sealed class RouteHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RouteHost(WebApplication app, Mock<IFunctionClient> client, RecordingLoggerProvider logs, Uri address)
    {
        _app = app;
        Client = client;
        Logs = logs;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Mock<IFunctionClient> Client { get; }

    public RecordingLoggerProvider Logs { get; }

    public HttpClient Http { get; }

    public static async Task<RouteHost> StartAsync(
        Action<CrabLambdaOptions>? configure = null,
        Action<IEndpointRouteBuilder>? map = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var logs = new RecordingLoggerProvider();
        builder.Logging.AddProvider(logs);

        var client = new Mock<IFunctionClient>(MockBehavior.Strict);
        builder.Services.AddSingleton(client.Object);
        builder.Services.AddOptions<CrabLambdaOptions>().Configure(o => configure?.Invoke(o));
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        if (map is null)
        {
            app.MapCrabLambda("/api");
        }
        else
        {
            map(app);
        }

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Single();
        return new RouteHost(app, client, logs, new Uri(address + "/"));
    }

    public static StringContent Json(string json, string? contentType = "application/json")
    {
        var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = contentType is null ? null : MediaTypeHeaderValue.Parse(contentType);
        return content;
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
