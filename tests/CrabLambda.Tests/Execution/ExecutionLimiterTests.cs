using CrabLambda.Execution;
using CrabLambda.Functions;
using Microsoft.Extensions.Options;

namespace CrabLambda.Tests.Execution;

public sealed class ExecutionLimiterTests
{
    [Fact]
    public async Task AcquireAsync_QueueFull_RejectsAtOnce()
    {
        using var limiter = new ExecutionLimiter(
            Options.Create(new CrabLambdaOptions { MaxConcurrentExecutions = 1, MaxQueuedExecutions = 1 }));
        var running = await limiter.AcquireAsync(CancellationToken.None);
        var waiting = limiter.AcquireAsync(CancellationToken.None).AsTask();

        await Assert.ThrowsAsync<ExecutionRejectedException>(
            () => limiter.AcquireAsync(CancellationToken.None).AsTask());

        Assert.False(waiting.IsCompleted);
        running.Dispose();
        (await waiting).Dispose();
        Assert.Equal(0, limiter.Queued);
    }

    [Fact]
    public async Task AcquireAsync_SlotFreed_WaiterProceeds()
    {
        using var limiter = new ExecutionLimiter(
            Options.Create(new CrabLambdaOptions { MaxConcurrentExecutions = 2, MaxQueuedExecutions = 10 }));
        var first = await limiter.AcquireAsync(CancellationToken.None);
        var second = await limiter.AcquireAsync(CancellationToken.None);
        var third = limiter.AcquireAsync(CancellationToken.None).AsTask();

        Assert.False(third.IsCompleted);
        first.Dispose();
        (await third).Dispose();
        second.Dispose();
    }
}
