using CrabLambda.Execution;
using CrabLambda.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;

namespace CrabLambda.Tests.Execution;

public sealed class ExecutionRecorderTests
{
    [Fact]
    public async Task RecordAsync_ManyAtOnce_ShareTransactionsAndEachWaitsForItsCommit()
    {
        var batches = new List<int>();
        var gate = new TaskCompletionSource();
        var store = new Mock<IFunctionStore>();
        store.Setup(s => s.AddExecutionsAsync(It.IsAny<IReadOnlyList<ExecutionEntry>>(), It.IsAny<CancellationToken>()))
            .Returns(async (IReadOnlyList<ExecutionEntry> entries, CancellationToken _) =>
            {
                lock (batches)
                {
                    batches.Add(entries.Count);
                }

                await gate.Task;
                return (IReadOnlySet<Guid>)entries.Select(e => e.Execution.Id).ToHashSet();
            });
        await using var recorder = new ExecutionRecorder(store.Object, NullLogger<ExecutionRecorder>.Instance);

        var first = recorder.RecordAsync(Entry());
        await WaitUntilAsync(() => batches.Count == 1);
        var rest = Enumerable.Range(0, 20).Select(_ => recorder.RecordAsync(Entry())).ToArray();

        Assert.False(first.IsCompleted);
        Assert.All(rest, r => Assert.False(r.IsCompleted));
        gate.SetResult();
        Assert.True(await first);
        Assert.All(await Task.WhenAll(rest), Assert.True);
        Assert.Equal([1, 20], batches);
    }

    [Fact]
    public async Task RecordAsync_BatchFails_WritesTheOthersOneByOne()
    {
        var bad = Entry();
        var store = new Mock<IFunctionStore>();
        var gate = new TaskCompletionSource();
        var calls = 0;
        store.Setup(s => s.AddExecutionsAsync(It.IsAny<IReadOnlyList<ExecutionEntry>>(), It.IsAny<CancellationToken>()))
            .Returns(async (IReadOnlyList<ExecutionEntry> entries, CancellationToken _) =>
            {
                if (Interlocked.Increment(ref calls) == 1)
                {
                    await gate.Task;
                }

                if (entries.Contains(bad))
                {
                    throw new InvalidOperationException("bad record");
                }

                return (IReadOnlySet<Guid>)entries.Select(e => e.Execution.Id).ToHashSet();
            });
        await using var recorder = new ExecutionRecorder(store.Object, NullLogger<ExecutionRecorder>.Instance);
        var blocker = recorder.RecordAsync(Entry());
        await WaitUntilAsync(() => Volatile.Read(ref calls) == 1);

        var good = recorder.RecordAsync(Entry());
        var failing = recorder.RecordAsync(bad);
        gate.SetResult();

        Assert.True(await blocker);
        Assert.True(await good);
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
    }

    private static ExecutionEntry Entry() =>
        new(
            new CrabLambda.Execution.Execution(
                Guid.CreateVersion7(),
                Guid.NewGuid(),
                "f",
                1,
                ExecutionStatus.Success,
                "{}",
                "1",
                null,
                1,
                null,
                DateTimeOffset.UtcNow),
            []);

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
