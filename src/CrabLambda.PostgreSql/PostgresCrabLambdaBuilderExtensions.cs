using CrabLambda.PostgreSql;
using CrabLambda.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Stores CrabLambda's data in PostgreSQL.
/// </summary>
public static class PostgresCrabLambdaBuilderExtensions
{
    /// <summary>
    /// Uses a PostgreSQL database as the function store, in place of any store registered before. The database must
    /// exist; its schema is migrated at start-up. Several servers may share one database.
    /// </summary>
    /// <param name="builder">The builder from <c>AddCrabLambda</c>.</param>
    /// <param name="connectionString">A <c>postgresql://user:password@host:port/database</c> URL or an Npgsql
    /// connection string (<c>Host=…;Username=…;Password=…;Database=…</c>).</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="FormatException">The connection string is malformed; the message never contains the
    /// password.</exception>
    public static ICrabLambdaBuilder AddPostgres(this ICrabLambdaBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(connectionString);

        // Checked here, so that a bad value fails at registration rather than at the first query.
        var normalized = PostgresConnectionString.Normalize(connectionString);

        builder.Services.RemoveAll<IFunctionStore>();
        builder.Services.AddSingleton<IFunctionStore>(services =>
        {
            var loggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
            var dataSource = new NpgsqlDataSourceBuilder(normalized).UseLoggerFactory(loggerFactory).Build();
            return new PostgresFunctionStore(dataSource, loggerFactory.CreateLogger<PostgresFunctionStore>());
        });
        return builder;
    }
}
