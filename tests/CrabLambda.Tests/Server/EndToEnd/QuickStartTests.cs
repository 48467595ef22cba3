using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// The README's quick start against a real server, on SQLite and on PostgreSQL.
/// </summary>
public abstract class QuickStartTests(ServerFixture fixture)
{
    private ServerHarness Server => fixture.Server;

    [Theory]
    [InlineData("python", FunctionCode.PythonQuickStart)]
    [InlineData("node", FunctionCode.NodeQuickStart)]
    [InlineData("nodejs", FunctionCode.NodeQuickStart)]
    public async Task QuickStart_DeployAndInvoke_ReturnsTheGreetingAndLogsIt(string runtime, string code)
    {
        var name = $"hello-{runtime}";

        var function = await Server.DeployAsync(name, runtime, code);
        var result = await Server.InvokeAsync(name, """{"name":"CrabLambda"}""");

        Assert.Equal(1, function.GetProperty("current_version").GetInt32());
        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal("Hello, CrabLambda!", result.GetProperty("output").GetString());
        Assert.Equal(1, result.GetProperty("version").GetInt32());
        Assert.True(result.GetProperty("duration_ms").GetDouble() >= 0);
        var executionId = result.GetProperty("execution_id").GetString();
        var logs = await Server.GetJsonAsync($"api/executions/{executionId}/logs");
        var line = Assert.Single(logs.EnumerateArray());
        Assert.Equal("greeting CrabLambda", line.GetProperty("message").GetString());
        Assert.Equal("info", line.GetProperty("level").GetString());
        Assert.Equal(executionId, line.GetProperty("execution_id").GetString());
    }

    [Fact]
    public async Task QuickStart_CurlStyleBodyWithoutContentType_IsAccepted()
    {
        var body = new FormLikeContent(
            """{"name":"curl-style","runtime":"python","handler":"handler","code":"def handler(e):\n    return e"}""");

        var response = await Server.Http.PostAsync("api/functions", body);
        await ServerHarness.ExpectAsync(response, System.Net.HttpStatusCode.Created);
        var invoked = await Server.Http.PostAsync(
            "api/functions/curl-style/invoke",
            new FormLikeContent("""{"a":[1,2]}"""));

        var result = await ServerHarness.ExpectAsync(invoked, System.Net.HttpStatusCode.OK);
        Assert.Equal(2, result.GetProperty("output").GetProperty("a")[1].GetInt32());
    }

    // What `curl -d` sends: the body with Content-Type application/x-www-form-urlencoded.
    private sealed class FormLikeContent : StringContent
    {
        public FormLikeContent(string body)
            : base(body)
        {
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(
                "application/x-www-form-urlencoded");
        }
    }
}

public sealed class SqliteQuickStartTests(ServerFixture fixture)
    : QuickStartTests(fixture), IClassFixture<ServerFixture>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresQuickStartTests(PostgresServerFixture fixture)
    : QuickStartTests(fixture), IClassFixture<PostgresServerFixture>;
