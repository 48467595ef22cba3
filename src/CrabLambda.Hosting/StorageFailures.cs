using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace CrabLambda.Hosting;

/// <summary>
/// Tells a store that cannot serve for now (the database is down, unreachable or busy) from a store that failed,
/// so that the first is answered 503 and the second 500.
/// </summary>
internal static class StorageFailures
{
    // SQLite marks no error transient. These are the ones of a file that another writer holds longer than the busy
    // timeout (BUSY, LOCKED) or that cannot be opened (CANTOPEN: its folder is gone or unreadable, the disk is not
    // mounted). Npgsql marks connection failures, a server that shuts down or restarts, and timeouts as transient.
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteCantOpen = 14;

    /// <summary>
    /// Finds the database failure in <paramref name="exception"/> or its inner exceptions and returns it when it is
    /// transient; returns <see langword="null"/> for anything else.
    /// </summary>
    public static DbException? FindTransient(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is DbException failure)
            {
                return IsTransient(failure) ? failure : null;
            }
        }

        return null;
    }

    private static bool IsTransient(DbException failure) =>
        failure.IsTransient
        || failure is SqliteException { SqliteErrorCode: SqliteBusy or SqliteLocked or SqliteCantOpen };
}
