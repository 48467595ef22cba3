using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Invocations, updates and deletes of one function at the same time, through one server or two sharing a
/// database, on SQLite and on PostgreSQL.
/// </summary>
public abstract class ConcurrentChangeTests(ServerFixture fixture)
{
    protected ServerHarness Server => fixture.Server;

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

    [Fact]
    public async Task Update_EightAtOnce_KeepEveryChangeInVersionsTwoToNine()
    {
        await UpdateEightAtOnceAsync("busy-updates", [Server]);
    }

    [Fact]
    public async Task Update_EightAtOnceThroughTwoServersOnOneDatabase_KeepEveryChangeInVersionsTwoToNine()
    {
        var variables = new Dictionary<string, string?> { ["DATABASE_URL"] = Server.DatabaseUrl };
        var second = await ServerHarness.StartAsync(variables);
        await using var _ = second;

        await UpdateEightAtOnceAsync("shared-updates", [Server, second]);
    }

    [Fact]
    public async Task Delete_ThroughOneServerOnADatabaseTwoShare_IsANotFoundOnTheOther()
    {
        var variables = new Dictionary<string, string?> { ["DATABASE_URL"] = Server.DatabaseUrl };
        var second = await ServerHarness.StartAsync(variables);
        await using var _ = second;
        await Server.DeployAsync("shared-delete", "python", FunctionCode.PythonReturning("here"));
        await second.InvokeAsync("shared-delete");

        var deleted = await Server.Http.DeleteAsync("api/functions/shared-delete");
        var invoke = await second.Http.PostAsync("api/functions/shared-delete/invoke", new StringContent("{}"));

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, invoke.StatusCode);
    }

    /// <summary>
    /// Deploys a function, then sends eight updates at once, spread over the servers, half of them changing the code
    /// and half the memory, and checks that they made versions 2 to 9, one each; that each version is the one before
    /// it with only its own update's change, so no update undid another's; that 9 is current everywhere; and that
    /// every server runs it and sees the executions of the others.
    /// </summary>
    protected static async Task UpdateEightAtOnceAsync(string name, IReadOnlyList<ServerHarness> servers)
    {
        await servers[0].DeployAsync(name, "python", FunctionCode.PythonReturning("deployed"));
        var updates = Enumerable.Range(1, 8)
            .Select(i => i % 2 == 1
                ? new Update($"update-{i}", FunctionCode.PythonReturning($"update-{i}"), null)
                : new Update($"update-{i}", null, 128 + i))
            .ToArray();

        var responses = await Task.WhenAll(updates.Select((update, i) => PutAsync(
            servers[i % servers.Count],
            name,
            update.Body)));

        var made = new Dictionary<int, Update>();
        for (var i = 0; i < updates.Length; i++)
        {
            var (status, body) = responses[i];
            Assert.True(status == HttpStatusCode.OK, $"{updates[i].Label}: {(int)status}: {body}");
            var version = JsonDocument.Parse(body).RootElement.GetProperty("current_version").GetInt32();
            Assert.True(made.TryAdd(version, updates[i]), $"{updates[i].Label} made version {version} again");
        }

        Assert.Equal(Enumerable.Range(2, 8), made.Keys.Order());
        var previous = await servers[0].GetJsonAsync($"api/functions/{name}/versions/1");
        var runs = "deployed";
        for (var version = 2; version <= 9; version++)
        {
            var update = made[version];
            var stored = await servers[0].GetJsonAsync($"api/functions/{name}/versions/{version}");
            Assert.Equal(
                update.Code ?? previous.GetProperty("code").GetString(),
                stored.GetProperty("code").GetString());
            Assert.Equal(
                update.MemoryMb ?? previous.GetProperty("memory_mb").GetInt32(),
                stored.GetProperty("memory_mb").GetInt32());
            runs = update.Code is null ? runs : update.Label;
            previous = stored;
        }

        foreach (var server in servers)
        {
            var versions = await server.GetJsonAsync($"api/functions/{name}/versions");
            var function = await server.GetJsonAsync($"api/functions/{name}");
            var result = await server.InvokeAsync(name);

            Assert.Equal(
                Enumerable.Range(1, 9).Reverse(),
                versions.EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
            Assert.Equal(9, function.GetProperty("current_version").GetInt32());
            Assert.Equal(previous.GetProperty("memory_mb").GetInt32(), function.GetProperty("memory_mb").GetInt32());
            Assert.Equal(9, result.GetProperty("version").GetInt32());
            Assert.Equal(runs, result.GetProperty("output").GetProperty("from").GetString());
        }

        var history = await servers[^1].GetJsonAsync($"api/functions/{name}/executions");
        Assert.Equal(servers.Count, history.GetArrayLength());
    }

    private static async Task<(HttpStatusCode Status, string Body)> PutAsync(
        ServerHarness server,
        string name,
        object body)
    {
        var response = await server.Http.PutAsync(
            $"api/functions/{name}",
            new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode Status, string Body)> InvokeAsync(string name)
    {
        var response = await Server.Http.PostAsync($"api/functions/{name}/invoke", new StringContent("{}"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>An update that changes either the code or the memory, and the body that sends it.</summary>
    private sealed record Update(string Label, string? Code, int? MemoryMb)
    {
        public object Body => Code is null ? new { memory_mb = MemoryMb } : new { code = Code };
    }
}

public sealed class SqliteConcurrentChangeTests(ServerFixture fixture)
    : ConcurrentChangeTests(fixture), IClassFixture<ServerFixture>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresConcurrentChangeTests(PostgresServerFixture fixture)
    : ConcurrentChangeTests(fixture), IClassFixture<PostgresServerFixture>;
