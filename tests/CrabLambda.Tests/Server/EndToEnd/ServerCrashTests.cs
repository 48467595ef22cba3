using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// A server process killed with SIGKILL while invocations are in flight has stored every invocation a client saw
/// answered, with its log lines, as it was answered; a server started again on the database serves them. On a
/// SQLite file and on PostgreSQL.
/// </summary>
public abstract class ServerCrashTests(TestDatabases databases) : IDisposable
{
    private const string Function = "burst";

    // Each invocation of a lane pauses 0, 10 or 20 ms, so that at the kill the lanes are at different steps: some
    // running, some being written, and some answered.
    private const string Code =
        """
        import sys, time
        def handler(event):
            lane, n = event["lane"], event["n"]
            print(f"start {lane}/{n}")
            print(f"note {lane}/{n}", file=sys.stderr)
            time.sleep(event.get("pause", n % 3 / 100))
            if n % 4 == 3:
                raise ValueError(f"refused {lane}/{n}")
            print(f"end {lane}/{n}")
            return {"lane": lane, "n": n, "square": n * n}
        """;

    private readonly string _folder = Directory.CreateTempSubdirectory("crablambda-crash-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Left in the temp folder; nothing depends on it.
        }
    }

    [Fact]
    public async Task Sigkill_DuringABurstOfInvocations_EveryAnsweredInvocationIsStored()
    {
        var databaseUrl = await databases.CreateAsync();

        var burst = await RunBurstAsync(databaseUrl, beforeTheKill: null);

        Assert.True(
            burst.CutOff > 0,
            $"the kill cut off no invocation: {burst.InFlightAtTheKill} were in flight, {burst.Answered.Count} "
                + "were answered");
        await AssertStoredAsAnsweredAsync(databaseUrl, burst);
    }

    [Fact]
    public async Task Sigkill_WhileExecutionWritesAreHeldBack_NothingUnstoredWasAnswered()
    {
        var databaseUrl = await databases.CreateAsync();
        IAsyncDisposable? hold = null;
        var answersWhenHeld = 0;

        // The kill comes while the database holds back the server's writes: a server that answered before its
        // record was committed would go on answering, and those answers would be missing after the restart.
        var burst = await RunBurstAsync(
            databaseUrl,
            async running =>
            {
                hold = await databases.HoldWritesAsync(databaseUrl);
                answersWhenHeld = running.AnswerCount;
                await Task.Delay(TimeSpan.FromSeconds(1));
            });
        Assert.NotNull(hold);
        await hold.DisposeAsync();

        // Answers to invocations committed before the hold may still arrive, one per lane at most.
        var answeredWhileHeld = burst.AnswerCount - answersWhenHeld;
        Assert.True(
            answeredWhileHeld <= InvocationBurst.Lanes,
            $"{answeredWhileHeld} invocations were answered while their records could not be written");
        Assert.True(burst.CutOff > 0, $"no invocation was cut off ({burst.Answered.Count} answered)");
        await AssertStoredAsAnsweredAsync(databaseUrl, burst);
    }

    // Starts the server as a process of its own on the database, deploys the function and runs the burst until the
    // server is killed.
    private async Task<InvocationBurst> RunBurstAsync(
        string databaseUrl,
        Func<InvocationBurst, Task>? beforeTheKill)
    {
        Tools.Require("python3");
        var port = ServerProcess.FreePort();
        var variables = new Dictionary<string, string>
        {
            ["DATABASE_URL"] = databaseUrl,
            ["SERVER_PORT"] = port.ToString(CultureInfo.InvariantCulture),
        };
        var output = new StringBuilder();
        using var server = Process.Start(ServerProcess.StartInfo(_folder, variables))!;
        server.OutputDataReceived += (_, e) => ServerProcess.Append(output, e.Data);
        server.ErrorDataReceived += (_, e) => ServerProcess.Append(output, e.Data);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();

        var burst = new InvocationBurst(server, Function, beforeTheKill);
        try
        {
            using var http = new HttpClient
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
                Timeout = TimeSpan.FromMinutes(2),
            };
            await ServerProcess.WaitUntilReadyAsync(http, server, output);
            var definition = new { name = Function, runtime = "python", handler = "handler", code = Code };
            await ServerHarness.ExpectAsync(
                await http.PostAsync("api/functions", new StringContent(JsonSerializer.Serialize(definition))),
                HttpStatusCode.Created);

            await burst.RunAsync(http);

            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await server.WaitForExitAsync(exited.Token);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }

            burst.KillLeftoverWorkers();
        }

        Assert.True(
            burst.Answered.Count >= InvocationBurst.AnswersBeforeTheKill,
            $"only {burst.Answered.Count} answers; the server's output:\n{output}");
        return burst;
    }

    // Every answer is stored as it was answered, with its log lines; whatever was stored unanswered is whole too.
    private static async Task AssertStoredAsAnsweredAsync(string databaseUrl, InvocationBurst burst)
    {
        var server = await ServerHarness.StartAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = databaseUrl });
        await using var _ = server;

        foreach (var answer in burst.Answered)
        {
            var id = answer.Result.GetProperty("execution_id").GetString();
            var stored = await server.GetJsonAsync($"api/executions/{id}");
            var logs = await server.GetJsonAsync($"api/executions/{id}/logs");

            Assert.True(
                SameJson(answer.Event, stored.GetProperty("input")),
                $"{id}: sent {answer.Event}, stored {stored.GetProperty("input")}");
            Assert.True(
                SameJson(answer.Result.GetProperty("output").GetRawText(), stored.GetProperty("output")),
                $"{id}: answered {answer.Result.GetProperty("output")}, stored {stored.GetProperty("output")}");
            foreach (var field in new[] { "status", "error", "version", "duration_ms", "memory_used_mb" })
            {
                Assert.Equal(answer.Result.GetProperty(field).GetRawText(), stored.GetProperty(field).GetRawText());
            }

            Assert.Equal(ExpectedLogs(answer.Lane, answer.N), ServerRestartTests.Lines(logs));
        }

        var history = await server.GetJsonAsync($"api/functions/{Function}/executions?limit=1000");
        Assert.InRange(history.GetArrayLength(), burst.Answered.Count, burst.Answered.Count + InvocationBurst.Lanes);
        foreach (var execution in history.EnumerateArray())
        {
            var input = execution.GetProperty("input");
            var logs = await server.GetJsonAsync($"api/executions/{execution.GetProperty("id").GetString()}/logs");
            Assert.Equal(
                ExpectedLogs(input.GetProperty("lane").GetInt32(), input.GetProperty("n").GetInt32()),
                ServerRestartTests.Lines(logs));
        }

        var after = await server.InvokeAsync(Function, """{"lane":0,"n":0}""");
        Assert.Equal("success", after.GetProperty("status").GetString());
    }

    // PostgreSQL keeps JSON as JSONB, whose text may differ from what was sent while its value does not.
    private static bool SameJson(string expected, JsonElement actual) =>
        JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual.GetRawText()));

    private static string[] ExpectedLogs(int lane, int n) => n % 4 == 3
        ? [$"error note {lane}/{n}", $"info start {lane}/{n}"]
        : [$"error note {lane}/{n}", $"info start {lane}/{n}", $"info end {lane}/{n}"];
}

public sealed class SqliteServerCrashTests(SqliteTestDatabases databases)
    : ServerCrashTests(databases), IClassFixture<SqliteTestDatabases>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresServerCrashTests(PostgresTestDatabases databases)
    : ServerCrashTests(databases), IClassFixture<PostgresTestDatabases>;
