using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// A server started on the database of a server that stopped serves everything that one stored, on a SQLite file and
/// on PostgreSQL.
/// </summary>
public abstract class ServerRestartTests(TestDatabases databases)
{
    private const string LoggingFunction =
        """
        import sys
        def handler(event):
            print("event", event.get("n"))
            print("to stderr", file=sys.stderr)
            if event.get("fail"):
                raise ValueError("asked to fail")
            return {"from": "LABEL", "n": event.get("n")}
        """;

    [Fact]
    public async Task Restart_OnTheSameDatabase_ServesWhatTheStoppedServerHad()
    {
        var variables = new Dictionary<string, string?> { ["DATABASE_URL"] = await databases.CreateAsync() };
        var before = new Dictionary<string, string>();
        string answered;

        await using (var first = await ServerHarness.StartAsync(variables))
        {
            await first.DeployAsync("kept", "python", Labelled("v1"));
            await PutAsync(first, "kept", new { code = Labelled("v2") });
            await PutAsync(first, "kept", new { memory_mb = 256 });
            await ServerHarness.ExpectAsync(
                await first.Http.PostAsync("api/functions/kept/rollback/2", null),
                HttpStatusCode.OK);
            answered = Id(await first.InvokeAsync("kept", """{"n":1}"""));
            var executions = new List<string>
            {
                answered,
                Id(await first.InvokeAsync("kept", """{"fail":true}""")),
                Id(await first.InvokeAsync("kept", """{"n":3}""", version: 3)),
            };
            await first.DeployAsync("kept-node", "node", FunctionCode.NodeQuickStart);
            executions.Add(Id(await first.InvokeAsync("kept-node", """{"name":"again"}""")));

            string[] paths =
            [
                "api/functions?limit=100", "api/functions/kept", "api/functions/kept-node",
                "api/functions/kept/versions", "api/functions/kept/versions/1", "api/functions/kept/versions/2",
                "api/functions/kept/versions/3", "api/functions/kept-node/versions/1",
                "api/functions/kept/executions", "api/functions/kept/executions?status=error",
                "api/functions/kept-node/executions",
                .. executions.SelectMany(id => new[] { $"api/executions/{id}", $"api/executions/{id}/logs" }),
            ];
            foreach (var path in paths)
            {
                before[path] = (await first.GetJsonAsync(path)).GetRawText();
            }
        }

        var second = await ServerHarness.StartAsync(variables);
        await using var _ = second;

        foreach (var (path, body) in before)
        {
            Assert.Equal(body, (await second.GetJsonAsync(path)).GetRawText());
        }

        var function = await second.GetJsonAsync("api/functions/kept");
        Assert.Equal(2, function.GetProperty("current_version").GetInt32());
        Assert.Equal(128, function.GetProperty("memory_mb").GetInt32());
        var execution = await second.GetJsonAsync($"api/executions/{answered}");
        Assert.Equal("v2", execution.GetProperty("output").GetProperty("from").GetString());
        var logs = await second.GetJsonAsync($"api/executions/{answered}/logs");
        Assert.Equal(["error to stderr", "info event 1"], Lines(logs));

        var again = await second.InvokeAsync("kept", """{"n":4}""");
        var updated = await PutAsync(second, "kept", new { code = Labelled("v4") });
        var history = await second.GetJsonAsync("api/functions/kept/executions");

        Assert.Equal("v2", again.GetProperty("output").GetProperty("from").GetString());
        Assert.Equal(2, again.GetProperty("version").GetInt32());
        Assert.Equal(4, updated.GetProperty("current_version").GetInt32());
        Assert.Equal(4, history.GetArrayLength());
        Assert.Equal(Id(again), Id(history[0], "id"));
    }

    private static string Labelled(string label) => LoggingFunction.Replace("LABEL", label, StringComparison.Ordinal);

    private static string Id(JsonElement result, string property = "execution_id") =>
        result.GetProperty(property).GetString()!;

    private static async Task<JsonElement> PutAsync(ServerHarness server, string name, object body) =>
        await ServerHarness.ExpectAsync(
            await server.Http.PutAsync(
                $"api/functions/{name}",
                new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json")),
            HttpStatusCode.OK);

    // Stderr lines first, then stdout lines: each stream's order is kept, the order between the two is not fixed.
    internal static string[] Lines(JsonElement logs) =>
    [
        .. logs.EnumerateArray()
            .Select(l => $"{l.GetProperty("level").GetString()} {l.GetProperty("message").GetString()}")
            .OrderBy(line => line.StartsWith("info", StringComparison.Ordinal))
    ];
}

public sealed class SqliteServerRestartTests(SqliteTestDatabases databases)
    : ServerRestartTests(databases), IClassFixture<SqliteTestDatabases>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresServerRestartTests(PostgresTestDatabases databases)
    : ServerRestartTests(databases), IClassFixture<PostgresTestDatabases>;
