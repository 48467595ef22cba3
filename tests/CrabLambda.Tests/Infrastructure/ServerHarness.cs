using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CrabLambda.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// The real server, built by <see cref="CrabLambdaServer"/>, on Kestrel at 127.0.0.1 on a free port, with the real
/// executor and runtimes, storing into a SQLite file in a temporary directory unless <c>DATABASE_URL</c> names
/// another database.
/// </summary>
public sealed class ServerHarness : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;

    private ServerHarness(
        WebApplication app,
        string directory,
        string databaseUrl,
        RecordingLoggerProvider logs,
        Uri address)
    {
        _app = app;
        _directory = directory;
        DatabaseUrl = databaseUrl;
        Logs = logs;
        Address = address;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(3) };
    }

    /// <summary>The server's base address, for example <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Address { get; }

    /// <summary>A client whose base address is the server's.</summary>
    public HttpClient Http { get; }

    /// <summary>Everything the server logged.</summary>
    public RecordingLoggerProvider Logs { get; }

    /// <summary>The server's services.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The harness's own SQLite file, which the server stores into unless told otherwise.</summary>
    public string DatabasePath => Path.Combine(_directory, "crablambda.db");

    /// <summary>The server's <c>DATABASE_URL</c>, for starting another server on the same database.</summary>
    public string DatabaseUrl { get; }

    /// <summary>Starts a server; <paramref name="variables"/> add to or override the harness's own.</summary>
    /// <param name="variables">Configuration variables beyond the harness's own.</param>
    /// <param name="configure">Changes to the application before it is built, for example a replaced service.</param>
    public static async Task<ServerHarness> StartAsync(
        IReadOnlyDictionary<string, string?>? variables = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        Tools.Require("python3");
        Tools.Require("node");

        var directory = Directory.CreateTempSubdirectory("crablambda-server-").FullName;
        var all = new Dictionary<string, string?>
        {
            ["SERVER_HOST"] = "127.0.0.1",
            ["SERVER_PORT"] = "0",
            ["DATABASE_URL"] = "sqlite:" + Path.Combine(directory, "crablambda.db"),
        };
        foreach (var (name, value) in variables ?? new Dictionary<string, string?>())
        {
            all[name] = value;
        }

        var logs = new RecordingLoggerProvider();
        var app = CrabLambdaServer.Build(
            [],
            all,
            builder =>
            {
                builder.Logging.ClearProviders();
                builder.Logging.AddProvider(logs);
                builder.Services.PostConfigure<CrabLambdaOptions>(
                    o => o.WorkDirectory = Path.Combine(directory, "work"));
                configure?.Invoke(builder);
            });
        await app.StartAsync();

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Single();
        return new ServerHarness(app, directory, all["DATABASE_URL"]!, logs, new Uri(address + "/"));
    }

    /// <summary>Deploys a function and returns the created function, failing the test if it was refused.</summary>
    public async Task<JsonElement> DeployAsync(
        string name,
        string runtime,
        string code,
        string handler = "handler",
        object? extra = null)
    {
        var body = new Dictionary<string, object?>
        {
            ["name"] = name,
            ["runtime"] = runtime,
            ["code"] = code,
            ["handler"] = handler,
        };
        foreach (var property in extra?.GetType().GetProperties() ?? [])
        {
            body[property.Name] = property.GetValue(extra);
        }

        var response = await Http.PostAsJsonAsync("api/functions", body);
        return await ExpectAsync(response, System.Net.HttpStatusCode.Created);
    }

    /// <summary>Invokes a function with an event and returns the invocation result, which must be a 200.</summary>
    public async Task<JsonElement> InvokeAsync(string name, string eventJson = "{}", int? version = null)
    {
        var path = version is null
            ? $"api/functions/{name}/invoke"
            : $"api/functions/{name}/versions/{version}/invoke";
        var response = await Http.PostAsync(path, new StringContent(eventJson, Encoding.UTF8, "application/json"));
        return await ExpectAsync(response, System.Net.HttpStatusCode.OK);
    }

    /// <summary>GETs a path that must answer 200 and returns its JSON.</summary>
    public async Task<JsonElement> GetJsonAsync(string path) =>
        await ExpectAsync(await Http.GetAsync(path), System.Net.HttpStatusCode.OK);

    /// <summary>Checks a response's status, showing its body when it is not the expected one.</summary>
    public static async Task<JsonElement> ExpectAsync(HttpResponseMessage response, System.Net.HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(
            response.StatusCode == status,
            $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: expected {(int)status}, "
                + $"got {(int)response.StatusCode}: {text}");
        // Events and outputs may nest 256 levels, deeper than the parser's default.
        var options = new JsonDocumentOptions { MaxDepth = 1024 };
        return text.Length == 0 ? default : JsonDocument.Parse(text, options).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
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

/// <summary>
/// Checks for the programs integration tests need. A missing one fails the test, in CI and out of it.
/// </summary>
public static class Tools
{
    public static string Require(string program)
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
        Assert.True(
            found is not null,
            $"{program} is not installed; this test needs it (scripts/test.sh installs it).");
        return found!;
    }
}
