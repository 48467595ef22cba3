using System.Net;
using System.Text;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Every function route against a real server, on SQLite and on PostgreSQL.
/// </summary>
public abstract class FunctionRoutesEndToEndTests(ServerFixture fixture)
{
    private ServerHarness Server => fixture.Server;

    [Fact]
    public async Task List_ThreeFunctions_PagesByName()
    {
        foreach (var name in new[] { "list-c", "list-a", "list-b" })
        {
            await Server.DeployAsync(name, "python", FunctionCode.PythonReturning(name));
        }

        var all = await Server.GetJsonAsync("api/functions?limit=100");
        var names = all.GetProperty("items").EnumerateArray()
            .Select(f => f.GetProperty("name").GetString()!)
            .Where(n => n.StartsWith("list-", StringComparison.Ordinal))
            .ToArray();
        Assert.Equal(["list-a", "list-b", "list-c"], names);
        var total = all.GetProperty("total").GetInt64();

        var first = await Server.GetJsonAsync("api/functions?page=1&limit=2");
        var second = await Server.GetJsonAsync("api/functions?page=2&limit=2");
        Assert.Equal(2, first.GetProperty("items").GetArrayLength());
        Assert.Equal(1, first.GetProperty("page").GetInt32());
        Assert.Equal(2, first.GetProperty("limit").GetInt32());
        Assert.Equal(total, first.GetProperty("total").GetInt64());
        Assert.Equal(2, second.GetProperty("page").GetInt32());
        var firstNames = first.GetProperty("items").EnumerateArray().Select(f => f.GetProperty("name").GetString());
        var secondNames = second.GetProperty("items").EnumerateArray().Select(f => f.GetProperty("name").GetString());
        Assert.Empty(firstNames.Intersect(secondNames));

        var beyond = await Server.GetJsonAsync($"api/functions?page={int.MaxValue}&limit=100");
        Assert.Equal(0, beyond.GetProperty("items").GetArrayLength());
        Assert.Equal(total, beyond.GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Get_Deployed_ReturnsItsConfigurationWithDefaults()
    {
        var created = await Server.DeployAsync("get-me", "python", FunctionCode.PythonReturning("v1"));

        var function = await Server.GetJsonAsync("api/functions/get-me");

        Assert.Equal(created.GetProperty("created_at").GetString(), function.GetProperty("created_at").GetString());
        Assert.Equal(created.GetProperty("updated_at").GetString(), function.GetProperty("updated_at").GetString());
        Assert.Equal("get-me", function.GetProperty("name").GetString());
        Assert.Equal("python", function.GetProperty("runtime").GetString());
        Assert.Equal("handler", function.GetProperty("handler").GetString());
        Assert.Equal(128, function.GetProperty("memory_mb").GetInt32());
        Assert.Equal(30, function.GetProperty("timeout_secs").GetInt32());
        Assert.False(function.GetProperty("network").GetBoolean());
        Assert.Equal(1, function.GetProperty("current_version").GetInt32());
        Assert.True(Guid.TryParse(function.GetProperty("id").GetString(), out _));
    }

    [Fact]
    public async Task Update_MakesANewVersionOnlyOnARealChange()
    {
        var code = FunctionCode.PythonReturning("v1");
        await Server.DeployAsync("update-me", "python", code);

        var same = await PutAsync("update-me", new { code, handler = "handler", memory_mb = 128 });
        Assert.Equal(1, same.GetProperty("current_version").GetInt32());

        var changed = await PutAsync("update-me", new { code = FunctionCode.PythonReturning("v2") });
        Assert.Equal(2, changed.GetProperty("current_version").GetInt32());

        var limits = await PutAsync("update-me", new { memory_mb = 256, timeout_secs = 10, network = true });
        Assert.Equal(3, limits.GetProperty("current_version").GetInt32());
        Assert.Equal(256, limits.GetProperty("memory_mb").GetInt32());
        Assert.Equal(10, limits.GetProperty("timeout_secs").GetInt32());
        Assert.True(limits.GetProperty("network").GetBoolean());

        var result = await Server.InvokeAsync("update-me");
        Assert.Equal("v2", result.GetProperty("output").GetProperty("from").GetString());
        Assert.Equal(3, result.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task Versions_ListNewestFirstWithoutCode_AndGetOneWithCode()
    {
        var v1 = FunctionCode.PythonReturning("v1");
        await Server.DeployAsync("versioned", "python", v1);
        await PutAsync("versioned", new { code = FunctionCode.PythonReturning("v2") });

        var versions = await Server.GetJsonAsync("api/functions/versioned/versions");
        var first = await Server.GetJsonAsync("api/functions/versioned/versions/1");

        Assert.Equal([2, 1], versions.EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
        Assert.All(versions.EnumerateArray(), v => Assert.False(v.TryGetProperty("code", out _)));
        Assert.Equal(v1, first.GetProperty("code").GetString());
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(v1)));
        Assert.Equal(hash, first.GetProperty("code_hash").GetString());
        Assert.Equal(hash, versions[1].GetProperty("code_hash").GetString());
    }

    [Fact]
    public async Task InvokeVersion_RunsThatVersion_AndRollbackMakesItCurrent()
    {
        await Server.DeployAsync("roll", "python", FunctionCode.PythonReturning("v1"));
        await PutAsync("roll", new { code = FunctionCode.PythonReturning("v2") });

        var old = await Server.InvokeAsync("roll", version: 1);
        var current = await Server.InvokeAsync("roll");
        Assert.Equal("v1", old.GetProperty("output").GetProperty("from").GetString());
        Assert.Equal(1, old.GetProperty("version").GetInt32());
        Assert.Equal("v2", current.GetProperty("output").GetProperty("from").GetString());

        var rolledBack = await ServerHarness.ExpectAsync(
            await Server.Http.PostAsync("api/functions/roll/rollback/1", null),
            HttpStatusCode.OK);
        Assert.Equal(1, rolledBack.GetProperty("current_version").GetInt32());

        var after = await Server.InvokeAsync("roll");
        Assert.Equal("v1", after.GetProperty("output").GetProperty("from").GetString());
        Assert.Equal(1, after.GetProperty("version").GetInt32());

        var again = await ServerHarness.ExpectAsync(
            await Server.Http.PostAsync("api/functions/roll/rollback/1", null),
            HttpStatusCode.OK);
        Assert.Equal(rolledBack.GetProperty("updated_at").GetString(), again.GetProperty("updated_at").GetString());
        var versions = await Server.GetJsonAsync("api/functions/roll/versions");
        Assert.Equal(2, versions.GetArrayLength());
    }

    [Fact]
    public async Task Executions_HistoryNewestFirstFilteredByStatus_OneExecution_AndItsLogs()
    {
        await Server.DeployAsync(
            "history",
            "python",
            """
            import sys
            def handler(event):
                print("out line")
                print("err line", file=sys.stderr)
                if event.get("fail"):
                    raise ValueError("asked to fail")
                return event
            """);
        var ok1 = await Server.InvokeAsync("history", """{"n":1}""");
        var failed = await Server.InvokeAsync("history", """{"fail":true}""");
        var ok2 = await Server.InvokeAsync("history", """{"n":2}""");

        var all = await Server.GetJsonAsync("api/functions/history/executions");
        var errors = await Server.GetJsonAsync("api/functions/history/executions?status=error");
        var limited = await Server.GetJsonAsync("api/functions/history/executions?status=success&limit=1");

        Assert.Equal(
            [Id(ok2), Id(failed), Id(ok1)],
            all.EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        var error = Assert.Single(errors.EnumerateArray());
        Assert.Equal(Id(failed), error.GetProperty("id").GetString());
        Assert.Contains("asked to fail", error.GetProperty("error").GetString());
        Assert.Equal(Id(ok2), Assert.Single(limited.EnumerateArray()).GetProperty("id").GetString());

        var execution = await Server.GetJsonAsync($"api/executions/{Id(ok1)}");
        Assert.Equal("history", execution.GetProperty("function_name").GetString());
        Assert.Equal(1, execution.GetProperty("input").GetProperty("n").GetInt32());
        Assert.Equal(1, execution.GetProperty("output").GetProperty("n").GetInt32());
        Assert.Equal("success", execution.GetProperty("status").GetString());
        Assert.Equal(1, execution.GetProperty("version").GetInt32());

        var logs = await Server.GetJsonAsync($"api/executions/{Id(ok1)}/logs");
        var lines = logs.EnumerateArray()
            .Select(l => (l.GetProperty("level").GetString(), l.GetProperty("message").GetString()))
            .ToArray();
        Assert.Contains(("info", "out line"), lines);
        Assert.Contains(("error", "err line"), lines);
    }

    [Fact]
    public async Task Executions_FollowingTheNextLink_PagesThroughTheWholeHistoryToAnEmptyPage()
    {
        await Server.DeployAsync(
            "paging",
            "python",
            "def handler(event):\n    if event.get('fail'):\n        raise ValueError('no')\n    return event\n");
        var successes = new List<string?>();
        for (var i = 0; i < 5; i++)
        {
            successes.Insert(0, Id(await Server.InvokeAsync("paging", $$"""{"n":{{i}}}""")));
            await Server.InvokeAsync("paging", """{"fail":true}""");
        }

        var pages = new List<string?[]>();
        var next = "/api/functions/paging/executions?status=success&limit=2";
        while (next is not null)
        {
            using var response = await Server.Http.GetAsync(next);
            var page = await ServerHarness.ExpectAsync(response, HttpStatusCode.OK);
            pages.Add([.. page.EnumerateArray().Select(e => e.GetProperty("id").GetString())]);
            next = response.Headers.TryGetValues("Link", out var links) ? NextOf(links.Single()) : null;
            Assert.True(pages.Count <= 4, $"the history should end: {string.Join(" | ", pages.Select(p => p.Length))}");
        }

        Assert.Equal([2, 2, 1, 0], pages.Select(p => p.Length));
        Assert.Equal(successes, pages.SelectMany(p => p));
    }

    [Fact]
    public async Task Delete_RemovesTheFunctionWithItsVersionsExecutionsAndLogs()
    {
        await Server.DeployAsync("doomed", "python", FunctionCode.PythonReturning("v1"));
        var result = await Server.InvokeAsync("doomed");
        var executionId = Id(result);

        await ServerHarness.ExpectAsync(
            await Server.Http.DeleteAsync("api/functions/doomed"),
            HttpStatusCode.NoContent);

        await ExpectProblemAsync(await Server.Http.GetAsync("api/functions/doomed"), HttpStatusCode.NotFound);
        await ExpectProblemAsync(await Server.Http.GetAsync("api/functions/doomed/versions"), HttpStatusCode.NotFound);
        await ExpectProblemAsync(await Server.Http.GetAsync($"api/executions/{executionId}"), HttpStatusCode.NotFound);
        await ExpectProblemAsync(
            await Server.Http.GetAsync($"api/executions/{executionId}/logs"),
            HttpStatusCode.NotFound);
        await ExpectProblemAsync(await Server.Http.DeleteAsync("api/functions/doomed"), HttpStatusCode.NotFound);

        // The name is free again, and the new function starts from version 1 with no history.
        await Server.DeployAsync("doomed", "python", FunctionCode.PythonReturning("again"));
        var history = await Server.GetJsonAsync("api/functions/doomed/executions");
        Assert.Equal(0, history.GetArrayLength());
    }

    [Theory]
    [InlineData("syntax-py", "python", "def handler(event:\n    return 1\n")]
    [InlineData("syntax-node", "node", "exports.handler = async (event => 1;")]
    public async Task Deploy_SyntaxErrorInPythonOrNode_IsDeployedAndEachInvokeIsAnError(
        string name,
        string runtime,
        string code)
    {
        var created = await Server.DeployAsync(name, runtime, code);
        var first = await Server.InvokeAsync(name);
        var second = await Server.InvokeAsync(name);

        Assert.Equal(1, created.GetProperty("current_version").GetInt32());
        Assert.All(
            new[] { first, second },
            result =>
            {
                Assert.Equal("error", result.GetProperty("status").GetString());
                Assert.Contains("SyntaxError", result.GetProperty("error").GetString());
            });
    }

    [Fact]
    public async Task Invoke_AnyJsonValueAndEmptyBody_AreEvents()
    {
        await Server.DeployAsync("echo", "python", "def handler(event):\n    return event\n");

        var empty = await ServerHarness.ExpectAsync(
            await Server.Http.PostAsync("api/functions/echo/invoke", null),
            HttpStatusCode.OK);
        var number = await Server.InvokeAsync("echo", "42");
        var text = await Server.InvokeAsync("echo", "\"hi\"");
        var list = await Server.InvokeAsync("echo", "[1,\"two\",null]");

        Assert.Equal("{}", empty.GetProperty("output").GetRawText());
        Assert.Equal(42, number.GetProperty("output").GetInt32());
        Assert.Equal("hi", text.GetProperty("output").GetString());
        Assert.Equal(3, list.GetProperty("output").GetArrayLength());
        var recorded = await Server.GetJsonAsync($"api/executions/{Id(empty)}");
        Assert.Equal("{}", recorded.GetProperty("input").GetRawText());
    }

    private static string? Id(System.Text.Json.JsonElement invocation) =>
        invocation.GetProperty("execution_id").GetString();

    private async Task<System.Text.Json.JsonElement> PutAsync(string name, object body) =>
        await ServerHarness.ExpectAsync(
            await Server.Http.PutAsync(
                $"api/functions/{name}",
                new StringContent(System.Text.Json.JsonSerializer.Serialize(body), Encoding.UTF8, "application/json")),
            HttpStatusCode.OK);

    internal static async Task<System.Text.Json.JsonElement> ExpectProblemAsync(
        HttpResponseMessage response,
        HttpStatusCode status)
    {
        var problem = await ServerHarness.ExpectAsync(response, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        return problem;
    }

    private static string NextOf(string link)
    {
        Assert.EndsWith(">; rel=\"next\"", link);
        return link[1..link.IndexOf('>', StringComparison.Ordinal)];
    }
}

public sealed class SqliteFunctionRoutesEndToEndTests(ServerFixture fixture)
    : FunctionRoutesEndToEndTests(fixture), IClassFixture<ServerFixture>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresFunctionRoutesEndToEndTests(PostgresServerFixture fixture)
    : FunctionRoutesEndToEndTests(fixture), IClassFixture<PostgresServerFixture>;
