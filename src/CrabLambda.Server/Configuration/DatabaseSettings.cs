using System.Data.Common;

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
/// <param name="Connection">The SQLite file path, or the PostgreSQL connection string as given.</param>
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

        if (IsPostgresUrl(value))
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            {
                problem = "it is not a valid PostgreSQL URL; use postgresql://user:password@host[:port]/database.";
                return false;
            }

            var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
            var user = Uri.UnescapeDataString(uri.UserInfo.Split(':')[0]);
            settings = new DatabaseSettings(
                DatabaseEngine.PostgreSql,
                value,
                DescribePostgres(uri.Host, uri.IsDefaultPort ? null : uri.Port.ToString(), database, user));
            return true;
        }

        if (value.Contains('='))
        {
            var builder = new DbConnectionStringBuilder();
            try
            {
                builder.ConnectionString = value;
            }
            catch (ArgumentException)
            {
                problem = "it is not a valid connection string; use Host=…;Database=…;Username=…;Password=… "
                    + "or postgresql://user:password@host[:port]/database.";
                return false;
            }

            var host = Find(builder, "Host", "Server");
            if (host is null)
            {
                problem = "the connection string names no Host; use Host=…;Database=…;Username=…;Password=….";
                return false;
            }

            settings = new DatabaseSettings(
                DatabaseEngine.PostgreSql,
                value,
                DescribePostgres(
                    host,
                    Find(builder, "Port"),
                    Find(builder, "Database", "Db"),
                    Find(builder, "Username", "User Id", "User", "UserId")));
            return true;
        }

        problem = "it must start with sqlite: (for example sqlite:crablambda.db), postgresql:// or postgres:// "
            + "(for example postgresql://user:password@localhost:5432/crablambda).";
        return false;
    }

    private static bool IsPostgresUrl(string value) =>
        value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase);

    private static string? Find(DbConnectionStringBuilder builder, params string[] keys)
    {
        foreach (var key in keys)
        {
            if (builder.TryGetValue(key, out var value) && value?.ToString() is { Length: > 0 } text)
            {
                return text;
            }
        }

        return null;
    }

    private static string DescribePostgres(string host, string? port, string? database, string? user)
    {
        var where = port is null ? host : $"{host}:{port}";
        var what = string.IsNullOrEmpty(database) ? "the default database" : $"database {database}";
        var who = string.IsNullOrEmpty(user) ? "" : $" as {user}";
        return $"PostgreSQL {what} on {where}{who}";
    }
}
