using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// Keeps every log entry written through it, so tests can see what an operator would read.
/// </summary>
public sealed class RecordingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LogRecord> _records = new();

    public IReadOnlyList<LogRecord> Records => _records.ToArray();

    public ILogger CreateLogger(string categoryName) => new RecordingLogger(categoryName, _records);

    public void Dispose()
    {
    }

    private sealed class RecordingLogger(string category, ConcurrentQueue<LogRecord> records) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(
            LogLevel logLevel,
            EventId eventId,
            TState state,
            Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            records.Enqueue(new LogRecord(category, logLevel, eventId, formatter(state, exception), exception));
        }
    }
}

/// <summary>One recorded log entry.</summary>
public sealed record LogRecord(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);
