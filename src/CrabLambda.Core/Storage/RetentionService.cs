using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Storage;

/// <summary>
/// Deletes executions, with their logs, once they are older than
/// <see cref="CrabLambdaOptions.ExecutionLogRetentionDays"/>. Runs shortly after start-up and then every hour.
/// </summary>
internal sealed partial class RetentionService(
    IFunctionStore store,
    StoreInitializer initializer,
    IOptions<CrabLambdaOptions> options,
    TimeProvider time,
    ILogger<RetentionService> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);
    public static readonly TimeSpan FirstRunDelay = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = FirstRunDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = Interval;
            if (initializer.IsMigrated)
            {
                await SweepAsync(stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Deletes what is past retention now; returns how many executions went.</summary>
    internal async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - TimeSpan.FromDays(options.Value.ExecutionLogRetentionDays);
        try
        {
            var deleted = await store.DeleteExecutionsBeforeAsync(cutoff, cancellationToken).ConfigureAwait(false);
            if (deleted > 0)
            {
                LogDeleted(deleted, cutoff);
            }

            return deleted;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFailed(ex);
            return 0;
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Retention deleted {Count} executions older than {Cutoff:u}")]
    private partial void LogDeleted(int count, DateTimeOffset cutoff);

    [LoggerMessage(2, LogLevel.Warning, "Retention could not delete old executions; it will try again")]
    private partial void LogFailed(Exception exception);
}
