using CrabLambda.Storage;
using CrabLambda.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Stores CrabLambda's data in a SQLite file.
/// </summary>
public static class SqliteCrabLambdaBuilderExtensions
{
    /// <summary>
    /// Uses a SQLite file as the function store, in place of any store registered before. The file and its folder
    /// are created at start-up when missing, and the schema is migrated then.
    /// </summary>
    /// <param name="builder">The builder from <c>AddCrabLambda</c>.</param>
    /// <param name="path">The database file, for example <c>data/crablambda.db</c>; relative to the current
    /// directory unless rooted.</param>
    /// <returns>The same builder.</returns>
    public static ICrabLambdaBuilder AddSqlite(this ICrabLambdaBuilder builder, string path)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);

        // Resolved now, so that a later change of the current directory cannot move the database.
        var fullPath = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }

        builder.Services.RemoveAll<IFunctionStore>();
        builder.Services.AddSingleton<IFunctionStore>(services => new SqliteFunctionStore(
            fullPath,
            services.GetService<ILoggerFactory>()?.CreateLogger<SqliteFunctionStore>()
                ?? NullLogger<SqliteFunctionStore>.Instance));
        return builder;
    }
}
