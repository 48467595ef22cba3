using System.Text;

namespace CrabLambda.Execution.Process;

/// <summary>
/// The log lines of one invocation, from both of a worker's streams, within the invocation's budget of bytes and of
/// lines. Lines past either budget are only counted, never decoded or stored, and one note line in their place says
/// how many were dropped.
/// </summary>
internal sealed class InvocationLog
{
    /// <summary>The stream index of stdout.</summary>
    public const int Stdout = 0;

    /// <summary>The stream index of stderr.</summary>
    public const int Stderr = 1;

    private readonly object _gate = new();
    private readonly List<LogEntry> _lines = [];
    private readonly long _maxBytes;
    private readonly int _maxLines;
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool[] _streamDone = new bool[2];
    private long _keptBytes;
    private int _noteIndex = -1;
    private string? _limit;
    private long _droppedLines;
    private long _droppedBytes;

    /// <param name="maxBytes">The most bytes of text kept.</param>
    /// <param name="maxLines">The most lines kept, besides the note.</param>
    public InvocationLog(long maxBytes, int maxLines)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLines, 1);

        _maxBytes = maxBytes;
        _maxLines = maxLines;
    }

    /// <summary>Completes when both streams reached this invocation's marker or their end.</summary>
    public Task Completed => _completed.Task;

    /// <summary>Adds a line, or counts it as dropped once a budget is spent.</summary>
    /// <param name="level"><c>info</c> or <c>error</c>.</param>
    /// <param name="kept">The kept start of the line.</param>
    /// <param name="totalBytes">The line's full length.</param>
    /// <param name="timestamp">When the line was read.</param>
    public void Add(string level, ReadOnlySpan<byte> kept, long totalBytes, DateTimeOffset timestamp)
    {
        lock (_gate)
        {
            if (_noteIndex >= 0)
            {
                _droppedLines++;
                _droppedBytes += totalBytes;
                return;
            }

            if (_lines.Count >= _maxLines)
            {
                StartDropping(Lines(_maxLines), level, totalBytes, timestamp);
                return;
            }

            if (_keptBytes + kept.Length > _maxBytes)
            {
                StartDropping($"{_maxBytes / 1024} KiB", level, totalBytes, timestamp);
                return;
            }

            _keptBytes += kept.Length;
            _lines.Add(new LogEntry(level, Decode(kept, totalBytes), timestamp));
        }
    }

    /// <summary>Records that a stream reached this invocation's marker or its end.</summary>
    public void MarkStreamDone(int stream)
    {
        lock (_gate)
        {
            _streamDone[stream] = true;
            if (_streamDone[Stdout] && _streamDone[Stderr])
            {
                _completed.TrySetResult();
            }
        }
    }

    /// <summary>The lines so far, in the order they were read.</summary>
    public IReadOnlyList<LogEntry> Snapshot()
    {
        lock (_gate)
        {
            var lines = _lines.ToArray();
            if (_noteIndex >= 0)
            {
                var note = lines[_noteIndex];
                lines[_noteIndex] = note with
                {
                    Message = $"[log truncated at {_limit}: {Lines(_droppedLines)} more dropped, "
                        + $"{_droppedBytes} bytes of text]",
                };
            }

            return lines;
        }
    }

    /// <summary>Puts the note where the first dropped line would have been; its text is made when it is read.</summary>
    private void StartDropping(string limit, string level, long totalBytes, DateTimeOffset timestamp)
    {
        _limit = limit;
        _noteIndex = _lines.Count;
        _lines.Add(new LogEntry(level, string.Empty, timestamp));
        _droppedLines = 1;
        _droppedBytes = totalBytes;
    }

    private static string Lines(long count) => count == 1 ? "1 line" : $"{count} lines";

    private static string Decode(ReadOnlySpan<byte> kept, long totalBytes)
    {
        if (totalBytes == kept.Length)
        {
            return Encoding.UTF8.GetString(kept);
        }

        var text = Encoding.UTF8.GetString(TrimPartialCharacter(kept));
        return $"{text} [line truncated: {totalBytes} bytes in all]";
    }

    /// <summary>Drops a UTF-8 sequence that the line limit cut in half, so it does not decode badly.</summary>
    private static ReadOnlySpan<byte> TrimPartialCharacter(ReadOnlySpan<byte> bytes)
    {
        var start = bytes.Length - 1;
        while (start >= 0 && start > bytes.Length - 4 && (bytes[start] & 0xC0) == 0x80)
        {
            start--;
        }

        if (start < 0)
        {
            return bytes;
        }

        var lead = bytes[start];
        var expected = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        return bytes.Length - start < expected ? bytes[..start] : bytes;
    }
}
