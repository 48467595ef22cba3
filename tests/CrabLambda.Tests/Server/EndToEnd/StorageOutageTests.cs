using System.Net;
using System.Text.Json;
using CrabLambda.Tests.Hosting;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// A PostgreSQL server of the tests' own, which they stop and start again under a running CrabLambda server.
/// </summary>
public sealed class StoppablePostgresFixture : IAsyncLifetime
{
    private PostgresServer? _postgres;

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("PostgreSQL did not start.");

    public async Task InitializeAsync() => _postgres = await PostgresServer.StartPrivateAsync();

    public async Task DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}

/// <summary>
/// The server while its database is down (PostgreSQL stopped, a SQLite file that cannot be opened): requests are
/// answered 503 with <c>Retry-After</c>, as the readiness probe is, nothing is recorded for them, and the server
/// serves again once the database is back.
/// </summary>
public sealed class StorageOutageTests(StoppablePostgresFixture fixture) : IClassFixture<StoppablePostgresFixture>
{
    private const string SleeperCode =
        """
        import time
        def handler(event):
            time.sleep(event.get("sleep", 0))
            return "done"
        """;

    private PostgresServer Postgres => fixture.Postgres;

    [Fact]
    public async Task Requests_PostgresStoppedUnderARunningServer_Are503UntilItIsBackThenServed()
    {
        var server = await ServerHarness.StartAsync(
            new Dictionary<string, string?> { ["DATABASE_URL"] = await Postgres.CreateDatabaseUrlAsync() });
        await using var _ = server;
        await server.DeployAsync("outage", "python", SleeperCode);
        await server.InvokeAsync("outage");

        await Postgres.StopAsync();
        try
        {
            var list = await server.Http.GetAsync("api/functions");
            var invoke = await server.Http.PostAsync("api/functions/outage/invoke", new StringContent("{}"));
            var deploy = await server.Http.PostAsync(
                "api/functions",
                new StringContent("""{"name":"later","runtime":"python","handler":"handler","code":"x = 1"}"""));
            var ready = await server.Http.GetAsync("health/ready");

            await AssertStorageUnavailableAsync(list);
            await AssertStorageUnavailableAsync(invoke);
            await AssertStorageUnavailableAsync(deploy);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }
        finally
        {
            await Postgres.RestartAsync();
        }

        await WaitUntilServedAsync(server, "api/functions");
        var result = await server.InvokeAsync("outage");
        Assert.Equal("success", result.GetProperty("status").GetString());
        var executions = await server.GetJsonAsync("api/functions/outage/executions");
        Assert.Equal(2, executions.GetArrayLength());
        await Assert.ThrowsAnyAsync<Exception>(() => server.GetJsonAsync("api/functions/later"));
        AssertLoggedAsWarningsOnly(server);
    }

    [Fact]
    public async Task Invoke_PostgresStoppedWhileTheFunctionRuns_Is503SayingItRanAndRecordsNothing()
    {
        var server = await ServerHarness.StartAsync(
            new Dictionary<string, string?> { ["DATABASE_URL"] = await Postgres.CreateDatabaseUrlAsync() });
        await using var _ = server;
        await server.DeployAsync("cut-off", "python", SleeperCode);
        await server.InvokeAsync("cut-off");

        HttpResponseMessage answer;
        var running = server.Http.PostAsync("api/functions/cut-off/invoke", new StringContent("""{"sleep":4}"""));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await Postgres.StopAsync();
        try
        {
            answer = await running;
        }
        finally
        {
            await Postgres.RestartAsync();
        }

        var problem = await AssertStorageUnavailableAsync(answer);
        Assert.Contains("ran", problem.GetProperty("detail").GetString());
        await WaitUntilServedAsync(server, "api/functions/cut-off/executions");
        var executions = await server.GetJsonAsync("api/functions/cut-off/executions");
        Assert.Equal(1, executions.GetArrayLength());
    }

    [Fact]
    public async Task Requests_SqliteFolderMovedAwayUnderARunningServer_Are503UntilItIsBackThenServed()
    {
        var folder = Directory.CreateTempSubdirectory("crablambda-outage-").FullName;
        var data = Path.Combine(folder, "data");
        var moved = Path.Combine(folder, "moved");
        try
        {
            var server = await ServerHarness.StartAsync(
                new Dictionary<string, string?> { ["DATABASE_URL"] = "sqlite:" + Path.Combine(data, "x.db") });
            await using var _ = server;
            await server.DeployAsync("outage", "python", SleeperCode);

            // Pooled connections keep the moved file open; new ones cannot open it where it was.
            Directory.Move(data, moved);
            SqliteConnection.ClearAllPools();
            try
            {
                await AssertStorageUnavailableAsync(await server.Http.GetAsync("api/functions"));
                await AssertStorageUnavailableAsync(
                    await server.Http.PostAsync("api/functions/outage/invoke", new StringContent("{}")));
            }
            finally
            {
                Directory.Move(moved, data);
            }

            var result = await server.InvokeAsync("outage");
            Assert.Equal("success", result.GetProperty("status").GetString());
            Assert.Equal(1, (await server.GetJsonAsync("api/functions/outage/executions")).GetArrayLength());
            AssertLoggedAsWarningsOnly(server);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<JsonElement> AssertStorageUnavailableAsync(HttpResponseMessage response)
    {
        var problem = await FunctionRoutesTests.AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("Storage unavailable", problem.GetProperty("title").GetString());
        Assert.NotNull(response.Headers.RetryAfter);
        return problem;
    }

    // The pool's connections broke with the server; the first requests after it is back may still meet one.
    private static async Task WaitUntilServedAsync(ServerHarness server, string path)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while ((await server.Http.GetAsync(path, deadline.Token)).StatusCode != HttpStatusCode.OK)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), deadline.Token);
        }
    }

    private static void AssertLoggedAsWarningsOnly(ServerHarness server)
    {
        var hosting = server.Logs.Records.Where(r => r.Category == "CrabLambda.Hosting").ToArray();
        Assert.Contains(hosting, r => r.Level == LogLevel.Warning && r.Message.Contains("Storage unavailable"));
        Assert.DoesNotContain(hosting, r => r.Level >= LogLevel.Error);
    }
}
