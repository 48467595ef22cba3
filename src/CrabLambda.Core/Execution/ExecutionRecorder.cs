using System.Threading.Channels;
using CrabLambda.Storage;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Execution;

/// <summary>
/// Writes execution records with group commit: every record waiting when a write starts goes into the same
/// transaction, and each caller is answered only after the transaction that holds its record has committed.
/// Under load this turns many small commits into a few large ones; alone, a record is written at once.
/// </summary>
internal sealed partial class ExecutionRecorder : IAsyncDisposable
{
    private const int MaxBatch = 256;

    private readonly IFunctionStore _store;
    private readonly ILogger<ExecutionRecorder> _logger;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    public ExecutionRecorder(IFunctionStore store, ILogger<ExecutionRecorder> logger)
    {
        _store = store;
        _logger = logger;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>
    /// Queues an execution and waits until it is committed.
    /// </summary>
    /// <returns><see langword="false"/> when the store dropped it because its function no longer exists.</returns>
    public Task<bool> RecordAsync(ExecutionEntry entry)
    {
        var pending = new Pending(entry);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(ExecutionRecorder), "The execution recorder has shut down.");
        }

        return pending.Completion.Task;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        var entries = new List<ExecutionEntry>(MaxBatch);

        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            entries.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
                entries.Add(pending.Entry);
            }

            try
            {
                var written = await _store.AddExecutionsAsync(entries, CancellationToken.None).ConfigureAwait(false);
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetResult(written.Contains(pending.Entry.Execution.Id));
                }
            }
            catch (Exception ex) when (batch.Count > 1)
            {
                // One bad record must not fail the others that shared its transaction: write them one by one.
                LogBatchFailed(ex, batch.Count);
                foreach (var pending in batch)
                {
                    await WriteAloneAsync(pending).ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                LogWriteFailed(ex);
                batch[0].Completion.TrySetException(ex);
            }
        }
    }

    private async Task WriteAloneAsync(Pending pending)
    {
        try
        {
            var written = await _store
                .AddExecutionsAsync([pending.Entry], CancellationToken.None)
                .ConfigureAwait(false);
            pending.Completion.TrySetResult(written.Contains(pending.Entry.Execution.Id));
        }
        catch (Exception ex)
        {
            LogWriteFailed(ex);
            pending.Completion.TrySetException(ex);
        }
    }

    [LoggerMessage(1, LogLevel.Error, "Writing an execution record failed; its invocation gets an error")]
    private partial void LogWriteFailed(Exception exception);

    [LoggerMessage(2, LogLevel.Warning, "Writing {Count} execution records together failed; writing them one by one")]
    private partial void LogBatchFailed(Exception exception, int count);

    private sealed class Pending(ExecutionEntry entry)
    {
        public ExecutionEntry Entry { get; } = entry;

        public TaskCompletionSource<bool> Completion { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
