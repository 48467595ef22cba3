using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace CrabLambda.Server.Configuration;

/// <summary>
/// Connects once to the database <c>DATABASE_URL</c> names before the server starts, so that one that cannot be
/// used stops start-up with a line that names the variable and the cause, rather than with a stack trace from the
/// middle of the host's start.
/// </summary>
internal static class DatabaseCheck
{
    // Reads the file's header, which opening alone does not: a file that is not a database fails here.
    private const string SqliteReadHeaderSql = "PRAGMA schema_version";

    /// <summary>
    /// Returns <see langword="null"/> when the database answers, or else a sentence that names <c>DATABASE_URL</c>,
    /// where it points (without the password) and why it cannot be used.
    /// </summary>
    public static async Task<string?> FindProblemAsync(DatabaseSettings database, CancellationToken cancellationToken)
    {
        try
        {
            if (database.Engine == DatabaseEngine.PostgreSql)
            {
                await CheckPostgresAsync(database.Connection, cancellationToken);
            }
            else
            {
                await CheckSqliteAsync(database.Connection, cancellationToken);
            }

            return null;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            return Describe(database, exception);
        }
    }

    /// <summary>
    /// Names <c>DATABASE_URL</c>, where it points and the cause of <paramref name="exception"/>, in one line.
    /// </summary>
    public static string Describe(DatabaseSettings database, Exception exception) =>
        $"DATABASE_URL names the {database.Description}, which cannot be used: {CauseOf(exception)}";

    /// <summary>Finds the database's own failure in an exception raised while the server started.</summary>
    public static DbException? FindDatabaseFailure(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is DbException failure)
            {
                return failure;
            }
        }

        return null;
    }

    private static async Task CheckPostgresAsync(string connectionString, CancellationToken cancellationToken)
    {
        // Not pooled: the store keeps a pool of its own, and this connection is not needed again.
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
    }

    private static async Task CheckSqliteAsync(string path, CancellationToken cancellationToken)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(path),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        };
        await using var connection = new SqliteConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = SqliteReadHeaderSql;
        await command.ExecuteScalarAsync(cancellationToken);
    }

    // "Failed to connect to 127.0.0.1:5432" says where, its inner "Connection refused" says why: both are kept.
    private static string CauseOf(Exception exception)
    {
        var cause = exception.Message.TrimEnd('.');
        var innermost = exception;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        if (!ReferenceEquals(innermost, exception) && !cause.Contains(innermost.Message, StringComparison.Ordinal))
        {
            cause += $" ({innermost.Message.TrimEnd('.')})";
        }

        return cause.ReplaceLineEndings(" ") + ".";
    }
}
