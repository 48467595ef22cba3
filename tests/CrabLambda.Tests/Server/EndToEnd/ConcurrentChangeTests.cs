using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Invocations, updates and deletes of one function at the same time, on SQLite and on PostgreSQL.
/// </summary>
public abstract class ConcurrentChangeTests(ServerFixture fixture)
{
    private ServerHarness Server => fixture.Server;

    [Fact]
    public async Task Invoke_WhileTheFunctionIsUpdated_RunsSomeVersionAndSucceeds()
    {
        await Server.DeployAsync("churn", "python", FunctionCode.PythonReturning("v1"));

        var invocations = Enumerable.Range(0, 12).Select(_ => InvokeAsync("churn")).ToList();
        for (var i = 2; i <= 5; i++)
        {
            var update = await Server.Http.PutAsync(
                "api/functions/churn",
                new StringContent(
                    JsonSerializer.Serialize(new { code = FunctionCode.PythonReturning($"v{i}") }),
                    Encoding.UTF8));
            Assert.Equal(HttpStatusCode.OK, update.StatusCode);
            invocations.Add(InvokeAsync("churn"));
        }

        var responses = await Task.WhenAll(invocations);

        foreach (var (status, body) in responses)
        {
            Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {body}");
            var result = JsonDocument.Parse(body).RootElement;
            Assert.Equal("success", result.GetProperty("status").GetString());
            var version = result.GetProperty("version").GetInt32();
            Assert.Equal($"v{version}", result.GetProperty("output").GetProperty("from").GetString());
        }
    }

    [Fact]
    public async Task Invoke_WhileTheFunctionIsDeleted_AnswersOnly200Or404()
    {
        await Server.DeployAsync("vanish", "python", FunctionCode.PythonReturning("v1"));
        await Server.InvokeAsync("vanish");

        var invocations = Enumerable.Range(0, 12).Select(_ => InvokeAsync("vanish")).ToList();
        var delete = await Server.Http.DeleteAsync("api/functions/vanish");
        var after = await InvokeAsync("vanish");
        var responses = await Task.WhenAll(invocations);

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        foreach (var (status, body) in responses)
        {
            Assert.True(status is HttpStatusCode.OK or HttpStatusCode.NotFound, $"{(int)status}: {body}");
        }

        Assert.Equal(HttpStatusCode.NotFound, after.Status);
        var history = await Server.Http.GetAsync("api/functions/vanish/executions");
        Assert.Equal(HttpStatusCode.NotFound, history.StatusCode);
    }

    [Fact]
    public async Task Deploy_SameNameTwiceAtOnce_OneWinsTheOtherIs409()
    {
        var body = JsonSerializer.Serialize(
            new { name = "race", runtime = "python", code = "def handler(e):\n    return 1\n", handler = "handler" });

        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(
            _ => Server.Http.PostAsync("api/functions", new StringContent(body, Encoding.UTF8))));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.All(
            responses.Where(r => r.StatusCode != HttpStatusCode.Created),
            r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
    }

    private async Task<(HttpStatusCode Status, string Body)> InvokeAsync(string name)
    {
        var response = await Server.Http.PostAsync($"api/functions/{name}/invoke", new StringContent("{}"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}

public sealed class SqliteConcurrentChangeTests(ServerFixture fixture)
    : ConcurrentChangeTests(fixture), IClassFixture<ServerFixture>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresConcurrentChangeTests(PostgresServerFixture fixture)
    : ConcurrentChangeTests(fixture), IClassFixture<PostgresServerFixture>;
