using CrabLambda.PostgreSql;
using Npgsql;

namespace CrabLambda.Server.Configuration;

/// <summary>The database engines the server can store into.</summary>
public enum DatabaseEngine
{
    /// <summary>A SQLite file.</summary>
    Sqlite,

    /// <summary>A PostgreSQL server.</summary>
    PostgreSql,
}

/// <summary>
/// The storage <c>DATABASE_URL</c> selects: <c>sqlite:PATH</c>, a <c>postgresql://</c> or <c>postgres://</c> URL, or
/// an Npgsql keyword connection string (<c>Host=…;Database=…</c>).
/// </summary>
/// <param name="Engine">The engine.</param>
/// <param name="Connection">The SQLite file path, or the Npgsql connection string.</param>
/// <param name="Description">Where the data is, for the start-up log; never contains a password.</param>
public sealed record DatabaseSettings(DatabaseEngine Engine, string Connection, string Description)
{
    private const string SqlitePrefix = "sqlite:";

    /// <summary>Parses a <c>DATABASE_URL</c> value.</summary>
    /// <param name="value">The value.</param>
    /// <exception cref="FormatException">The value selects no known engine.</exception>
    public static DatabaseSettings Parse(string value) =>
        TryParse(value, out var settings, out var problem) ? settings : throw new FormatException(problem);

    /// <summary>
    /// Parses a <c>DATABASE_URL</c> value; on failure, <paramref name="problem"/> says what is wrong without
    /// repeating the value, which may hold a password.
    /// </summary>
    /// <param name="value">The value.</param>
    /// <param name="settings">The storage it selects.</param>
    /// <param name="problem">What is wrong, when it selects none.</param>
    public static bool TryParse(string value, out DatabaseSettings settings, out string problem)
    {
        ArgumentNullException.ThrowIfNull(value);

        settings = null!;
        problem = "";
        if (value.StartsWith(SqlitePrefix, StringComparison.OrdinalIgnoreCase))
        {
            // sqlite:///absolute/path and sqlite://relative.db are accepted as well as sqlite:PATH.
            var path = value[SqlitePrefix.Length..];
            path = path.StartsWith("//", StringComparison.Ordinal) ? path[2..] : path;
            if (path.Length == 0)
            {
                problem = "sqlite: needs a file path, for example sqlite:crablambda.db or "
                    + "sqlite:/var/lib/crablambda/data.db.";
                return false;
            }

            settings = new DatabaseSettings(DatabaseEngine.Sqlite, path, $"SQLite file {Path.GetFullPath(path)}");
            return true;
        }

        if (IsPostgresUrl(value) || value.Contains('='))
        {
            string connectionString;
            try
            {
                connectionString = PostgresConnectionString.Normalize(value);
            }
            catch (FormatException exception)
            {
                // Normalize never puts the password in its message.
                problem = exception.Message;
                return false;
            }

            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            settings = new DatabaseSettings(
                DatabaseEngine.PostgreSql,
                connectionString,
                DescribePostgres(
                    builder.Host!,
                    builder.Port == NpgsqlConnection.DefaultPort ? null : builder.Port.ToString(),
                    builder.Database,
                    builder.Username));
            return true;
        }

        problem = "it must start with sqlite: (for example sqlite:crablambda.db), postgresql:// or postgres:// "
            + "(for example postgresql://user:password@localhost:5432/crablambda).";
        return false;
    }

    private static bool IsPostgresUrl(string value) =>
        value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase);

    private static string DescribePostgres(string host, string? port, string? database, string? user)
    {
        var where = port is null ? host : $"{host}:{port}";
        var what = string.IsNullOrEmpty(database) ? "the default database" : $"database {database}";
        var who = string.IsNullOrEmpty(user) ? "" : $" as {user}";
        return $"PostgreSQL {what} on {where}{who}";
    }
}
