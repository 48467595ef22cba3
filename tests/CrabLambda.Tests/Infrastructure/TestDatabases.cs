using System.Data.Common;
using CrabLambda.PostgreSql;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// Makes new, empty databases on one engine for tests that start servers themselves, each named by the
/// <c>DATABASE_URL</c> a server is given. A database outlives the servers started on it, so a test can start one
/// server after another on it; none outlives the test run.
/// </summary>
public abstract class TestDatabases
{
    /// <summary>Makes a new, empty database.</summary>
    /// <returns>Its <c>DATABASE_URL</c>.</returns>
    public abstract Task<string> CreateAsync();

    /// <summary>
    /// Holds back the writing of executions to a database until the returned object is disposed, the way a long
    /// transaction of another client would; reads go on.
    /// </summary>
    /// <param name="databaseUrl">A <c>DATABASE_URL</c> from <see cref="CreateAsync"/>, already migrated.</param>
    public abstract Task<IAsyncDisposable> HoldWritesAsync(string databaseUrl);

    /// <summary>A transaction on a connection of its own that holds a lock until it is disposed.</summary>
    protected sealed class WriteHold(DbConnection connection, DbTransaction transaction) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await transaction.RollbackAsync();
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}

/// <summary>SQLite files in a temporary folder of the fixture's own.</summary>
public sealed class SqliteTestDatabases : TestDatabases, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("crablambda-databases-").FullName;

    public override Task<string> CreateAsync() =>
        Task.FromResult("sqlite:" + Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".db"));

    public override async Task<IAsyncDisposable> HoldWritesAsync(string databaseUrl)
    {
        var settings = new SqliteConnectionStringBuilder
        {
            DataSource = databaseUrl["sqlite:".Length..],
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        };
        var connection = new SqliteConnection(settings.ToString());
        await connection.OpenAsync();

        // BEGIN IMMEDIATE takes the file's one write lock; in WAL mode readers do not need it.
        var transaction = connection.BeginTransaction(deferred: false);
        return new WriteHold(connection, transaction);
    }

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
}

/// <summary>
/// Databases on the shared <see cref="PostgresServer"/>; a test class that uses them is in its collection.
/// </summary>
public sealed class PostgresTestDatabases(PostgresServer postgres) : TestDatabases
{
    private const string LockExecutionsSql = "LOCK TABLE executions IN SHARE MODE";

    public override Task<string> CreateAsync() => postgres.CreateDatabaseUrlAsync();

    public override async Task<IAsyncDisposable> HoldWritesAsync(string databaseUrl)
    {
        var connection = new NpgsqlConnection(PostgresConnectionString.Normalize(databaseUrl));
        await connection.OpenAsync();

        // SHARE mode conflicts with the ROW EXCLUSIVE lock every INSERT takes, and with no read.
        var transaction = await connection.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand(LockExecutionsSql, connection, transaction))
        {
            await command.ExecuteNonQueryAsync();
        }

        return new WriteHold(connection, transaction);
    }
}
