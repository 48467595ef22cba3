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
}

/// <summary>SQLite files in a temporary folder of the fixture's own.</summary>
public sealed class SqliteTestDatabases : TestDatabases, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("crablambda-databases-").FullName;

    public override Task<string> CreateAsync() =>
        Task.FromResult("sqlite:" + Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".db"));

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
    public override Task<string> CreateAsync() => postgres.CreateDatabaseUrlAsync();
}
