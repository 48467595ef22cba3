using Microsoft.Extensions.DependencyInjection;

namespace CrabLambda.Storage;

/// <summary>
/// Tells whether the engine can serve: its store was migrated at start-up and answers now. Backs a readiness probe.
/// </summary>
public sealed class CrabLambdaHealth
{
    private readonly IServiceProvider _services;
    private readonly StoreInitializer _initializer;

    internal CrabLambdaHealth(IServiceProvider services, StoreInitializer initializer)
    {
        _services = services;
        _initializer = initializer;
    }

    /// <summary>
    /// Returns <see langword="true"/> when the store was migrated and answers a ping now.
    /// </summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    public async Task<bool> IsReadyAsync(CancellationToken cancellationToken = default)
    {
        if (!_initializer.IsMigrated)
        {
            return false;
        }

        try
        {
            var store = _services.GetRequiredService<IFunctionStore>();
            return await store.PingAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return false;
        }
    }
}
