using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CrabLambda.Functions;
using CrabLambda.Runtimes.Rust;
using CrabLambda.Tests.Infrastructure;
using EmbeddedApp;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Tests.Samples;

/// <summary>
/// The embedded-app sample, built by <see cref="EmbeddedAppHost"/> as its own <c>Program</c> builds it, on Kestrel
/// at 127.0.0.1 on a free port, with its SQLite file and work folder in a temporary directory.
/// </summary>
public sealed class EmbeddedAppHarness : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;

    private EmbeddedAppHarness(WebApplication app, string directory, string token)
    {
        _app = app;
        _directory = directory;
        Token = token;
        var address = new Uri(app.Urls.Single() + "/");
        Anonymous = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(3) };
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(3) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>The app's token.</summary>
    public string Token { get; }

    /// <summary>A client that sends the app's token.</summary>
    public HttpClient Http { get; }

    /// <summary>A client that sends no credentials.</summary>
    public HttpClient Anonymous { get; }

    /// <summary>The app's SQLite file.</summary>
    public string DatabasePath => Path.Combine(_directory, "app.db");

    /// <summary>The app's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The typed client the app got from <c>AddCrabLambda</c>.</summary>
    public IFunctionClient Functions => _app.Services.GetRequiredService<IFunctionClient>();

    /// <summary>Starts the app with more configuration in <paramref name="settings"/>.</summary>
    public static async Task<EmbeddedAppHarness> StartAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        Tools.Require("python3");

        var directory = Directory.CreateTempSubdirectory("crablambda-embedded-").FullName;
        var token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var args = new List<string>
        {
            "--urls=http://127.0.0.1:0",
            "--App:Token=" + token,
            "--App:Database=" + Path.Combine(directory, "app.db"),
            "--CrabLambda:WorkDirectory=" + Path.Combine(directory, "work"),
        };
        args.AddRange((settings ?? new Dictionary<string, string>()).Select(s => $"--{s.Key}={s.Value}"));

        var app = EmbeddedAppHost.Build(
            [.. args],
            builder =>
            {
                builder.Logging.ClearProviders();
                builder.Services.Configure<RustRuntimeOptions>(o => o.WarmUpOnStart = false);
            });
        await app.StartAsync();
        return new EmbeddedAppHarness(app, directory, token);
    }

    /// <summary>Deploys a function over the REST API with the app's token, and returns the created function.</summary>
    public async Task<JsonElement> DeployAsync(string name, string runtime, string code, object? extra = null)
    {
        var body = new Dictionary<string, object?>
        {
            ["name"] = name,
            ["runtime"] = runtime,
            ["code"] = code,
            ["handler"] = "handler",
        };
        foreach (var property in extra?.GetType().GetProperties() ?? [])
        {
            body[property.Name] = property.GetValue(extra);
        }

        var response = await Http.PostAsJsonAsync("faas/functions", body);
        return await ServerHarness.ExpectAsync(response, System.Net.HttpStatusCode.Created);
    }

    /// <summary>Invokes a function over the REST API with the app's token; the answer must be a 200.</summary>
    public async Task<JsonElement> InvokeAsync(string name, string eventJson = "{}")
    {
        var response = await Http.PostAsync($"faas/functions/{name}/invoke", new StringContent(eventJson));
        return await ServerHarness.ExpectAsync(response, System.Net.HttpStatusCode.OK);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Anonymous.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A worker that was killed may still be releasing its files; the directory is in the temp folder.
        }
    }
}
