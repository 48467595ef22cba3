using System.Collections.Concurrent;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Execution.Sandbox;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Tests.Execution.Process;

public sealed class ProcessExecutorLoggingTests
{
    [Fact]
    public async Task Execute_WorkerLifecycle_IsLoggedWithFixedEventsAndNeverTheEventOrOutput()
    {
        var logger = new RecordingLogger();
        await using (var harness = new ExecutorHarness(logger: logger))
        {
            var version = ExecutorHarness.Deploy(harness.Python, """
                import os, time

                def handler(event):
                    if event.get("mode") == "sleep":
                        time.sleep(600)
                    if event.get("mode") == "die":
                        os._exit(7)
                    return "output-secret-" + event["secret"]
                """, timeoutSecs: 1);

            var success = await harness.InvokeAsync(version, """{"secret": "event-secret"}""");
            await harness.InvokeAsync(version, """{"mode": "sleep"}""");
            await harness.InvokeAsync(version, """{"mode": "die"}""");
            await harness.InvokeAsync(version, """{"secret": "x"}""");

            Assert.Equal("\"output-secret-event-secret\"", success.Output);
        }

        var entries = logger.Entries.ToArray();
        Assert.Contains(entries, e => e is { Id: 1101, Name: "WorkerStarted", Level: LogLevel.Debug });
        Assert.Contains(entries, e => e is { Id: 1103, Name: "WorkerTimedOut", Level: LogLevel.Warning });
        Assert.Contains(entries, e => e is { Id: 1104, Name: "WorkerDied", Level: LogLevel.Warning });
        Assert.Contains(entries, e => e is { Id: 1102, Name: "WorkerStopped", Level: LogLevel.Debug });
        Assert.Equal(3, entries.Count(e => e.Id == 1101));
        Assert.Equal(3, entries.Count(e => e.Id == 1102));
        Assert.DoesNotContain(entries, e => e.Message.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Execute_FunctionPastItsOwnMemoryLimit_LogSaysItWentPastItsLimit()
    {
        var logger = new RecordingLogger();
        await using var harness = new ExecutorHarness(logger: logger, isolation: IsolationMode.Sandbox);
        var version = ExecutorHarness.Deploy(
            harness.Python,
            "def handler(event):\n    return len(bytearray(300 << 20))\n",
            memoryMb: 64);

        var result = await harness.InvokeAsync(version);

        Assert.True(result.Status == ExecutionStatus.Oom, $"{result.Status}: {result.Error}");
        var died = Assert.Single(logger.Entries, e => e.Id == 1104);
        Assert.Contains("went past its memory limit of 64 MB", died.Message);
        Assert.DoesNotContain("host ran out of memory", died.Message);
        Assert.EndsWith(result.Error!, died.Message);
    }

    private sealed record Entry(int Id, string? Name, LogLevel Level, string Message);

    private sealed class RecordingLogger : ILogger<ProcessExecutor>
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(
            LogLevel logLevel,
            EventId eventId,
            TState state,
            Exception? exception,
            Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue(new Entry(eventId.Id, eventId.Name, logLevel, formatter(state, exception)));
    }
}
