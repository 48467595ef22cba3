using System.Text.Json.Nodes;
using CrabLambda.Execution;
using CrabLambda.PostgreSql;
using CrabLambda.Storage;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CrabLambda.Tests.Storage.PostgreSql;

/// <summary>
/// Runs the store contract against a real PostgreSQL server, in a fresh database per test, and checks what is
/// PostgreSQL's own: the registration from a URL, concurrent migrations and text PostgreSQL cannot store.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresFunctionStoreTests(PostgresServer server) : FunctionStoreContract
{
    private string _connectionString = "";

    [Fact]
    public async Task MigrateAsync_TwoServersAtOnce_BothSucceed()
    {
        var connectionString = await server.CreateDatabaseAsync();
        await using var first = NewStore(connectionString);
        await using var second = NewStore(connectionString);

        await Task.WhenAll(
            Task.Run(() => first.MigrateAsync(CancellationToken.None)),
            Task.Run(() => second.MigrateAsync(CancellationToken.None)));

        Assert.True(await first.PingAsync(CancellationToken.None));
        Assert.Equal(0, (await second.ListFunctionsAsync(1, 10, CancellationToken.None)).Total);
    }

    [Fact]
    public async Task AddExecutionsAsync_NulAndUnpairedSurrogates_AreStoredAsReplacementCharacters()
    {
        var function = await CreateFunctionAsync("binary");
        var healthy = NewExecution(function, Start.AddSeconds(1), logLines: 1);
        var entry = NewExecution(function, Start, ExecutionStatus.Success, logLines: 1);
        entry = new ExecutionEntry(
            entry.Execution with
            {
                Input = """{"text": "a\u0000b", "lonely": "\ud800", "pair": "\ud83e\udd80"}""",
                Output = "\"x\\u0000y\"",
                Error = "bad\0byte",
            },
            [entry.Logs[0] with { Message = "nul\0here \ud800" }]);

        var written = await Store.AddExecutionsAsync([entry, healthy], CancellationToken.None);

        Assert.Equal(2, written.Count);
        var execution = await Store.GetExecutionAsync(entry.Execution.Id, CancellationToken.None);
        Assert.NotNull(execution);
        var input = JsonNode.Parse(execution.Input)!;
        Assert.Equal("a\uFFFDb", (string?)input["text"]);
        Assert.Equal("\uFFFD", (string?)input["lonely"]);
        Assert.Equal("🦀", (string?)input["pair"]);
        Assert.Equal("x\uFFFDy", (string?)JsonNode.Parse(execution.Output!));
        Assert.Equal("bad\uFFFDbyte", execution.Error);
        var log = Assert.Single(await Store.GetLogsAsync(entry.Execution.Id, CancellationToken.None));
        Assert.Equal("nul\uFFFDhere \uFFFD", log.Message);
    }

    [Fact]
    public async Task AddPostgres_Url_RegistersAWorkingStoreInPlaceOfTheEarlierOne()
    {
        var settings = new NpgsqlConnectionStringBuilder(_connectionString);
        var credentials = Uri.EscapeDataString(settings.Username ?? "")
            + (string.IsNullOrEmpty(settings.Password) ? "" : ":" + Uri.EscapeDataString(settings.Password));
        var url = $"postgresql://{credentials}@{settings.Host}:{settings.Port}/{settings.Database}";
        var services = new ServiceCollection();
        services.AddCrabLambda().AddSqlite(Path.Combine(Path.GetTempPath(), "unused-" + Guid.NewGuid() + ".db"));

        services.AddCrabLambda().AddPostgres(url);

        Assert.Single(services, descriptor => descriptor.ServiceType == typeof(IFunctionStore));
        await using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IFunctionStore>();
        Assert.IsType<PostgresFunctionStore>(store);
        await store.MigrateAsync(CancellationToken.None);
        Assert.True(await store.PingAsync(CancellationToken.None));
    }

    [Fact]
    public async Task PingAsync_ServerUnreachable_ReturnsFalse()
    {
        var settings = new NpgsqlConnectionStringBuilder(_connectionString) { Port = 1, Timeout = 5 };
        await using var store = NewStore(settings.ConnectionString);

        Assert.False(await store.PingAsync(CancellationToken.None));
    }

    /// <inheritdoc />
    protected override async Task CreateDatabaseAsync() =>
        _connectionString = await server.CreateDatabaseAsync();

    /// <inheritdoc />
    protected override IFunctionStore NewStore(int deleteBatchSize) => NewStore(_connectionString, deleteBatchSize);

    private static PostgresFunctionStore NewStore(
        string connectionString,
        int deleteBatchSize = PostgresFunctionStore.DefaultDeleteBatchSize) =>
        new(
            NpgsqlDataSource.Create(connectionString),
            NullLogger<PostgresFunctionStore>.Instance,
            deleteBatchSize);
}
