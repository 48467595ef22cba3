using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Storage;

/// <summary>
/// Migrates the store when the host starts, before the server accepts requests, and remembers that it did.
/// </summary>
internal sealed partial class StoreInitializer(IServiceProvider services, ILogger<StoreInitializer> logger)
    : IHostedService
{
    private volatile bool _migrated;

    public bool IsMigrated => _migrated;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var store = services.GetService<IFunctionStore>() ?? throw new InvalidOperationException(
            "No function store is registered. Call AddSqlite(path) or AddPostgres(connectionString) on the builder "
            + "that AddCrabLambda() returns, or register an IFunctionStore of your own.");

        await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        _migrated = true;
        LogMigrated(store.GetType().Name);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1, LogLevel.Information, "Storage is migrated and ready ({Store})")]
    private partial void LogMigrated(string store);
}
