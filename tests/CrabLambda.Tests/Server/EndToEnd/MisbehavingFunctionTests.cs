using System.Net;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Functions that hang, exit, shout or throw are recorded as such, on SQLite and on PostgreSQL.
/// </summary>
public abstract class MisbehavingFunctionTests(ServerFixture fixture)
{
    private ServerHarness Server => fixture.Server;

    [Fact]
    public async Task InfiniteLoop_TimesOut_AndTheNextInvocationSucceeds()
    {
        await Server.DeployAsync(
            "spin",
            "python",
            """
            def handler(event):
                while event.get("spin"):
                    pass
                return "done"
            """,
            extra: new { timeout_secs = 2 });

        var stuck = await Server.InvokeAsync("spin", """{"spin":true}""");
        var next = await Server.InvokeAsync("spin");

        Assert.Equal("timeout", stuck.GetProperty("status").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, stuck.GetProperty("output").ValueKind);
        Assert.Equal("success", next.GetProperty("status").GetString());
        Assert.Equal("done", next.GetProperty("output").GetString());
        var recorded = await Server.GetJsonAsync("api/functions/spin/executions?status=timeout");
        Assert.Equal(1, recorded.GetArrayLength());
    }

    [Fact]
    public async Task SysExit_IsAnErrorWithTheExitCode_AndTheNextInvocationSucceeds()
    {
        await Server.DeployAsync(
            "quitter",
            "python",
            """
            import sys
            def handler(event):
                if event.get("quit"):
                    sys.exit(3)
                return "still here"
            """);

        var quit = await Server.InvokeAsync("quitter", """{"quit":true}""");
        var next = await Server.InvokeAsync("quitter");

        Assert.Equal("error", quit.GetProperty("status").GetString());
        Assert.Contains("3", quit.GetProperty("error").GetString());
        Assert.Equal("still here", next.GetProperty("output").GetString());
    }

    [Fact]
    public async Task TenMegabytePrint_StaysInTheLogsAndOutOfTheOutput()
    {
        await Server.DeployAsync(
            "loud",
            "python",
            """
            def handler(event):
                print("x" * 10_000_000)
                print("after")
                return "quiet result"
            """);

        var result = await Server.InvokeAsync("loud");

        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal("quiet result", result.GetProperty("output").GetString());
        var response = await Server.Http.GetAsync($"api/executions/{result.GetProperty("execution_id")}/logs");
        var logs = await ServerHarness.ExpectAsync(response, HttpStatusCode.OK);
        var kept = logs.EnumerateArray().Sum(l => l.GetProperty("message").GetString()!.Length);
        Assert.InRange(kept, 1, 2 * 1024 * 1024);
    }

    [Fact]
    public async Task TwoMillionEmptyLines_StoreTheLineCapAndOneNote_AndTheNextInvocationSucceeds()
    {
        await Server.DeployAsync(
            "blank-lines",
            "python",
            """
            import sys
            def handler(event):
                if event.get("flood"):
                    sys.stdout.write("\n" * 2_000_000)
                return "written"
            """);

        var flood = await Server.InvokeAsync("blank-lines", """{"flood":true}""");
        var next = await Server.InvokeAsync("blank-lines");

        Assert.Equal("written", flood.GetProperty("output").GetString());
        var logs = await Server.GetJsonAsync($"api/executions/{flood.GetProperty("execution_id")}/logs");
        Assert.Equal(10_001, logs.GetArrayLength());
        Assert.Equal(
            "[log truncated at 10000 lines: 1990000 lines more dropped, 0 bytes of text]",
            logs[10_000].GetProperty("message").GetString());
        Assert.Equal("written", next.GetProperty("output").GetString());
    }

    [Fact]
    public async Task OutputNested256Levels_IsAnsweredAndStored_AndDeeperIsAnErrorSayingSo()
    {
        await Server.DeployAsync(
            "deep-output",
            "python",
            """
            def handler(event):
                if isinstance(event, list):
                    return event
                value = 0
                for _ in range(event["depth"]):
                    value = [value]
                return value
            """);
        var nested = new string('[', 256) + "0" + new string(']', 256);

        var deepest = await Server.InvokeAsync("deep-output", nested);
        var tooDeep = await Server.InvokeAsync("deep-output", """{"depth":257}""");

        Assert.Equal("success", deepest.GetProperty("status").GetString());
        Assert.Equal(nested, deepest.GetProperty("output").GetRawText());
        var stored = await Server.GetJsonAsync($"api/executions/{deepest.GetProperty("execution_id")}");
        Assert.Equal(nested, stored.GetProperty("output").GetRawText());
        Assert.Equal(nested, stored.GetProperty("input").GetRawText());
        Assert.Equal("error", tooDeep.GetProperty("status").GetString());
        Assert.Contains("output nested deeper than 256 levels", tooDeep.GetProperty("error").GetString());
    }

    [Fact]
    public async Task NeverResolvingPromise_TimesOut_AndTheNextInvocationSucceeds()
    {
        await Server.DeployAsync(
            "forever",
            "node",
            """
            exports.handler = async (event) => {
              if (event.wait) {
                return new Promise(() => {});
              }
              return "resolved";
            };
            """,
            extra: new { timeout_secs = 2 });

        var stuck = await Server.InvokeAsync("forever", """{"wait":true}""");
        var next = await Server.InvokeAsync("forever");

        Assert.Equal("timeout", stuck.GetProperty("status").GetString());
        Assert.Equal("resolved", next.GetProperty("output").GetString());
    }

    [Fact]
    public async Task RaisedException_IsAnErrorWithTheMessage()
    {
        await Server.DeployAsync(
            "raiser",
            "node",
            """
            exports.handler = async () => {
              throw new Error("node says no");
            };
            """);

        var result = await Server.InvokeAsync("raiser");

        Assert.Equal("error", result.GetProperty("status").GetString());
        Assert.Contains("node says no", result.GetProperty("error").GetString());
    }
}

public sealed class SqliteMisbehavingFunctionTests(ServerFixture fixture)
    : MisbehavingFunctionTests(fixture), IClassFixture<ServerFixture>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresMisbehavingFunctionTests(PostgresServerFixture fixture)
    : MisbehavingFunctionTests(fixture), IClassFixture<PostgresServerFixture>;
