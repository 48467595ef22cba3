using System.Net;
using System.Net.Http.Headers;
using CrabLambda.Server;
using CrabLambda.Server.Configuration;
using CrabLambda.Storage;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;

namespace CrabLambda.Tests.Server.EndToEnd;

public sealed class ServerEndpointsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private ServerHarness Server => fixture.Server;

    [Fact]
    public async Task Health_LiveAndReady_Answer200()
    {
        var live = await Server.Http.GetAsync("health");
        var ready = await Server.Http.GetAsync("health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("ready", await ready.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("health")]
    [InlineData("health/ready")]
    public async Task Health_Head_AnswersAsGetWithoutABody(string path)
    {
        var get = await Server.Http.GetAsync(path);
        var head = await Server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType, head.Content.Headers.ContentType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task HealthReady_StoreNotAnswering_Is503WhileLiveStays200()
    {
        var store = new Mock<IFunctionStore>();
        store.Setup(s => s.MigrateAsync(It.IsAny<CancellationToken>())).Returns(Task.CompletedTask);
        store.Setup(s => s.PingAsync(It.IsAny<CancellationToken>())).ReturnsAsync(false);
        var server = await ServerHarness.StartAsync(
            configure: builder => builder.Services.AddSingleton(store.Object));
        await using var _ = server;

        var live = await server.Http.GetAsync("health");
        var ready = await server.Http.GetAsync("health/ready");
        var readyHead = await server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "health/ready"));

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("not ready", await ready.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyHead.StatusCode);
    }

    [Fact]
    public async Task OpenApi_Document_DescribesEveryRouteWithSnakeCaseSchemas()
    {
        var document = await Server.GetJsonAsync("openapi/v1.json");

        var paths = document.GetProperty("paths");
        string[] expected =
        [
            "/api/functions", "/api/functions/{name}", "/api/functions/{name}/invoke",
            "/api/functions/{name}/versions", "/api/functions/{name}/versions/{version}",
            "/api/functions/{name}/versions/{version}/invoke", "/api/functions/{name}/rollback/{version}",
            "/api/functions/{name}/executions", "/api/executions/{id}", "/api/executions/{id}/logs",
        ];
        Assert.All(expected, path => Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing"));
        var create = paths.GetProperty("/api/functions").GetProperty("post");
        Assert.Equal("CreateFunction", create.GetProperty("operationId").GetString());
        Assert.True(create.GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(create.GetProperty("responses").TryGetProperty("409", out _));
        Assert.All(
            expected,
            path => Assert.All(
                paths.GetProperty(path).EnumerateObject(),
                operation => Assert.True(
                    operation.Value.GetProperty("responses").TryGetProperty("503", out _),
                    $"{operation.Name} {path} does not say it may answer 503")));
        var schemas = document.GetProperty("components").GetProperty("schemas");
        var function = schemas.GetProperty("FunctionResponse").GetProperty("properties");
        Assert.True(function.TryGetProperty("current_version", out _));
        Assert.Equal("integer", function.GetProperty("memory_mb").GetProperty("type").GetString());
        var createBody = schemas.GetProperty("CreateFunctionRequest");
        Assert.False(createBody.TryGetProperty("required", out _), "no field of a create body is required by type");
        Assert.False(
            createBody.GetProperty("additionalProperties").GetBoolean(),
            "a field a function does not have is refused");
        Assert.False(schemas.GetProperty("UpdateFunctionRequest").GetProperty("additionalProperties").GetBoolean());
        var invoke = paths.GetProperty("/api/functions/{name}/invoke").GetProperty("post");
        Assert.False(invoke.GetProperty("requestBody").TryGetProperty("required", out var required)
            && required.GetBoolean());
    }

    [Fact]
    public void StartupLog_SaysAddressStorageExecutorAndIsolation()
    {
        var messages = Server.Logs.Records
            .Where(r => r.Category == "CrabLambda.Server")
            .Select(r => r.Message)
            .ToArray();

        Assert.Contains(messages, m => m.Contains(Server.Address.Authority, StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("SQLite file " + Server.DatabasePath, StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("Executor: process", StringComparison.Ordinal));
        Assert.Contains(
            messages,
            m => m.StartsWith("Limits: code up to 10 MB; memory 128 MB and timeout 30 s", StringComparison.Ordinal)
                && m.Contains("timeouts up to 300 s", StringComparison.Ordinal));
        Assert.Contains(
            Server.Logs.Records,
            r => r.Category.EndsWith("IsolationStartup", StringComparison.Ordinal)
                && r.Message.StartsWith("Workers run with isolation: ", StringComparison.Ordinal));
        Assert.Contains(
            Server.Logs.Records,
            r => r.Level == LogLevel.Warning && r.Message.Contains("Authentication: off", StringComparison.Ordinal));
    }

    [Fact]
    public void StartupLog_AuthOffWithoutAKey_SaysOffAndNamesNoKey()
    {
        var auth = Assert.Single(Server.Logs.Records, IsAuthenticationLine);

        Assert.Equal(LogLevel.Warning, auth.Level);
        Assert.Equal(
            "Authentication: off (ENABLE_AUTH=false); anyone who can reach the server can deploy and run code",
            auth.Message);
    }

    [Fact]
    public async Task StartupLog_AuthOffWithAKey_SaysTheKeyIsIgnoredAndItIs()
    {
        const string Key = "a-key-nobody-asks-for";
        await using var server = await ServerHarness.StartAsync(
            new Dictionary<string, string?> { ["API_KEY"] = Key, ["ENABLE_AUTH"] = "false" });

        var unauthenticated = await server.Http.GetAsync("api/functions");

        var auth = Assert.Single(server.Logs.Records, IsAuthenticationLine);
        Assert.Equal(LogLevel.Warning, auth.Level);
        Assert.StartsWith(
            "Authentication: off; API_KEY is set but ignored, because ENABLE_AUTH=false:",
            auth.Message);
        Assert.DoesNotContain(Key, auth.Message);
        Assert.Equal(HttpStatusCode.OK, unauthenticated.StatusCode);
    }

    [Fact]
    public void Build_InvalidConfiguration_ThrowsNamingTheVariable()
    {
        var exception = Assert.Throws<ServerConfigurationException>(() => CrabLambdaServer.Build(
            [],
            new Dictionary<string, string?> { ["SERVER_PORT"] = "abc", ["ENABLE_AUTH"] = "maybe" }));

        Assert.Contains("SERVER_PORT=abc", exception.Message);
        Assert.Contains("ENABLE_AUTH=maybe", exception.Message);
    }

    private static bool IsAuthenticationLine(LogRecord record) =>
        record.Category == "CrabLambda.Server"
        && record.Message.StartsWith("Authentication:", StringComparison.Ordinal);
}

/// <summary>A server with <c>ENABLE_AUTH=true</c>.</summary>
public sealed class AuthServerFixture : ServerFixture
{
    public const string Key = "end-to-end-key";

    protected override IReadOnlyDictionary<string, string?> Variables { get; } = new Dictionary<string, string?>
    {
        ["ENABLE_AUTH"] = "true",
        ["API_KEY"] = Key,
    };
}

public sealed class AuthEndToEndTests(AuthServerFixture fixture) : IClassFixture<AuthServerFixture>
{
    private ServerHarness Server => fixture.Server;

    [Theory]
    [InlineData("GET", "api/functions")]
    [InlineData("POST", "api/functions")]
    [InlineData("GET", "api/functions/x")]
    [InlineData("PUT", "api/functions/x")]
    [InlineData("DELETE", "api/functions/x")]
    [InlineData("POST", "api/functions/x/invoke")]
    [InlineData("POST", "api/functions/x/versions/1/invoke")]
    [InlineData("GET", "api/functions/x/versions")]
    [InlineData("GET", "api/functions/x/versions/1")]
    [InlineData("POST", "api/functions/x/rollback/1")]
    [InlineData("GET", "api/functions/x/executions")]
    [InlineData("GET", "api/executions/0193a4b2-0000-7000-8000-000000000002")]
    [InlineData("GET", "api/executions/0193a4b2-0000-7000-8000-000000000002/logs")]
    public async Task EveryApiRoute_WithoutTheKey_Is401(string method, string path)
    {
        var response = await Server.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = new StringContent("{}"),
        });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Deploy_WithTheKey_Works_AndAWrongKeyChangesNothing()
    {
        var code = "def handler(e):\n    return 1\n";
        var body = System.Text.Json.JsonSerializer.Serialize(
            new { name = "guarded", runtime = "python", code, handler = "handler" });
        var wrong = new HttpRequestMessage(HttpMethod.Post, "api/functions") { Content = new StringContent(body) };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-key");
        var right = new HttpRequestMessage(HttpMethod.Post, "api/functions") { Content = new StringContent(body) };
        right.Headers.Add("X-API-Key", AuthServerFixture.Key);

        var refused = await Server.Http.SendAsync(wrong);
        var accepted = await Server.Http.SendAsync(right);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
        var invoke = new HttpRequestMessage(HttpMethod.Post, "api/functions/guarded/invoke");
        invoke.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AuthServerFixture.Key);
        var result = await ServerHarness.ExpectAsync(await Server.Http.SendAsync(invoke), HttpStatusCode.OK);
        Assert.Equal(1, result.GetProperty("output").GetInt32());
    }

    [Theory]
    [InlineData("health")]
    [InlineData("health/ready")]
    [InlineData("openapi/v1.json")]
    public async Task OutsideTheApi_NoKeyIsNeeded(string path)
    {
        var response = await Server.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
