using CrabLambda.Execution;
using CrabLambda.Storage;
using CrabLambda.Storage.Sqlite;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;

namespace CrabLambda.Tests.Storage.Sqlite;

/// <summary>
/// Runs the store contract against SQLite, in a fresh temporary file per test, and checks what is SQLite's own:
/// the registration, WAL mode and the indexes behind the history query.
/// </summary>
public sealed class SqliteFunctionStoreTests : FunctionStoreContract
{
    private readonly string _folder =
        Path.Combine(Path.GetTempPath(), "crablambda-sqlite-" + Guid.NewGuid().ToString("N"));

    private string DatabasePath => Path.Combine(_folder, "crablambda.db");

    [Fact]
    public async Task MigrateAsync_NewFile_CreatesTheTablesInWalMode()
    {
        await using var connection = await OpenRawAsync();

        var mode = await connection.ExecuteScalarAsync<string>("PRAGMA journal_mode");
        var tables = await connection.QueryAsync<string>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name");

        Assert.Equal("wal", mode);
        Assert.Equal(
            ["crablambda_migrations", "execution_logs", "executions", "function_versions", "functions"],
            tables);
    }

    [Theory]
    [InlineData(false, false, "executions_function_id_id (function_id=?)")]
    [InlineData(true, false, "executions_function_id_status_id (function_id=? AND status=?)")]
    [InlineData(false, true, "executions_function_id_id (function_id=? AND id<?)")]
    [InlineData(true, true, "executions_function_id_status_id (function_id=? AND status=? AND id<?)")]
    public async Task ListExecutionsAsync_QueryPlan_ReadsAnIndexInOrderWithoutSorting(
        bool byStatus,
        bool before,
        string index)
    {
        await using var connection = await OpenRawAsync();
        var sql = SqliteFunctionStore.SelectExecutionsSql(byStatus, before);

        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        command.Parameters.AddWithValue("@FunctionId", Guid.NewGuid().ToString());
        command.Parameters.AddWithValue("@Status", "error");
        command.Parameters.AddWithValue("@Before", Guid.NewGuid().ToString());
        command.Parameters.AddWithValue("@Limit", 50);
        var details = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                details.Add(reader.GetString(reader.GetOrdinal("detail")));
            }
        }

        var plan = string.Join("\n", details);
        Assert.Contains($"USING INDEX {index}", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("TEMP B-TREE", plan, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddExecutionsAsync_TextWithNulCharacters_IsKeptExactly()
    {
        var function = await CreateFunctionAsync("binary");
        var entry = NewExecution(function, Start, ExecutionStatus.Error, logLines: 1);
        entry = new ExecutionEntry(
            entry.Execution with { Error = "bad\0byte", Input = """{"text": "a\u0000b"}""" },
            [entry.Logs[0] with { Message = "nul\0here" }]);

        await Store.AddExecutionsAsync([entry], CancellationToken.None);

        var execution = await Store.GetExecutionAsync(entry.Execution.Id, CancellationToken.None);
        Assert.Equal(entry.Execution, execution);
        Assert.Equal(entry.Logs, await Store.GetLogsAsync(entry.Execution.Id, CancellationToken.None));
    }

    [Fact]
    public async Task AddSqlite_MissingFolder_CreatesItAndReplacesTheEarlierStore()
    {
        var path = Path.Combine(_folder, "nested", "deeper", "app.db");
        var services = new ServiceCollection();
        services.AddSingleton(Mock.Of<IFunctionStore>());

        services.AddCrabLambda().AddSqlite(path);

        Assert.True(Directory.Exists(Path.GetDirectoryName(path)));
        Assert.Single(services, descriptor => descriptor.ServiceType == typeof(IFunctionStore));
        await using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IFunctionStore>();
        Assert.IsType<SqliteFunctionStore>(store);
        await store.MigrateAsync(CancellationToken.None);
        Assert.True(await store.PingAsync(CancellationToken.None));
        Assert.True(File.Exists(path));
    }

    /// <inheritdoc />
    protected override Task CreateDatabaseAsync()
    {
        Directory.CreateDirectory(_folder);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    protected override IFunctionStore NewStore(int deleteBatchSize) =>
        new SqliteFunctionStore(DatabasePath, NullLogger<SqliteFunctionStore>.Instance, deleteBatchSize);

    /// <inheritdoc />
    protected override Task DeleteDatabaseAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    private async Task<SqliteConnection> OpenRawAsync()
    {
        var settings = new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false };
        var connection = new SqliteConnection(settings.ToString());
        await connection.OpenAsync();
        return connection;
    }
}
