namespace CrabLambda.Execution.Process;

/// <summary>
/// Receives what a <see cref="LogStreamSplitter"/> finds in a stream.
/// </summary>
internal interface ILogLineSink
{
    /// <summary>A complete line, without its line break.</summary>
    /// <param name="kept">The start of the line, at most the splitter's line limit.</param>
    /// <param name="totalBytes">The line's full length; more than <paramref name="kept"/> when it was cut.</param>
    void OnLine(ReadOnlySpan<byte> kept, long totalBytes);

    /// <summary>The current invocation's marker: what follows belongs to the next invocation.</summary>
    void OnMarker();
}

/// <summary>
/// Cuts one of a worker's output streams into lines and finds the end of each invocation's output: the line
/// <c>"\n" + marker + "\n"</c> that the worker writes after the handler finished. Memory stays bounded whatever the
/// function prints: a line keeps at most <c>maxLineBytes</c>, and the rest is only counted while the scan for the
/// marker goes on.
/// </summary>
/// <remarks>
/// The marker's leading <c>"\n"</c> ends the function's last line. When that line is empty, the function's output
/// already ended with a line break (or was empty), so the empty line is the marker's and not the function's. Empty
/// lines are therefore held back one step until it is known whether the marker follows.
/// </remarks>
internal sealed class LogStreamSplitter
{
    private readonly byte[] _line;
    private int _keptLength;
    private long _totalLength;
    private bool _heldEmptyLine;
    private bool _atStreamStart = true;
    private byte[]? _marker;

    public LogStreamSplitter(int maxLineBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);

        _line = new byte[maxLineBytes];
    }

    /// <summary>Sets the marker that ends the current invocation's output; it is matched once.</summary>
    public void SetMarker(ReadOnlySpan<byte> marker)
    {
        if (marker.IsEmpty || marker.Length > _line.Length || marker.Contains((byte)'\n'))
        {
            throw new ArgumentException("A marker is a non-empty single line shorter than the line limit.");
        }

        _marker = marker.ToArray();
    }

    /// <summary>Feeds the next bytes of the stream.</summary>
    public void Write(ReadOnlySpan<byte> data, ILogLineSink sink)
    {
        while (!data.IsEmpty)
        {
            var newline = data.IndexOf((byte)'\n');
            Append(newline < 0 ? data : data[..newline]);
            if (newline < 0)
            {
                return;
            }

            EndLine(sink);
            data = data[(newline + 1)..];
        }
    }

    /// <summary>Ends the stream: a held empty line and a last line without a line break are still lines.</summary>
    public void Complete(ILogLineSink sink)
    {
        ReleaseHeldEmptyLine(sink);
        if (_totalLength > 0)
        {
            Emit(sink);
        }
    }

    private void Append(ReadOnlySpan<byte> part)
    {
        var room = _line.Length - _keptLength;
        var kept = Math.Min(room, part.Length);
        part[..kept].CopyTo(_line.AsSpan(_keptLength));
        _keptLength += kept;
        _totalLength += part.Length;
    }

    private void EndLine(ILogLineSink sink)
    {
        // A marker is only a marker when a line break precedes it; the stream's very first line has none.
        var followsLineBreak = !_atStreamStart;
        _atStreamStart = false;

        if (_marker is not null
            && followsLineBreak
            && _totalLength == _marker.Length
            && _line.AsSpan(0, _keptLength).SequenceEqual(_marker))
        {
            _heldEmptyLine = false;
            _marker = null;
            Reset();
            sink.OnMarker();
            return;
        }

        ReleaseHeldEmptyLine(sink);
        if (_totalLength == 0)
        {
            _heldEmptyLine = true;
            return;
        }

        Emit(sink);
    }

    private void ReleaseHeldEmptyLine(ILogLineSink sink)
    {
        if (_heldEmptyLine)
        {
            _heldEmptyLine = false;
            sink.OnLine([], 0);
        }
    }

    private void Emit(ILogLineSink sink)
    {
        var kept = _line.AsSpan(0, _keptLength);
        var total = _totalLength;
        if (total == kept.Length && kept.EndsWith((byte)'\r'))
        {
            kept = kept[..^1];
            total--;
        }

        sink.OnLine(kept, total);
        Reset();
    }

    private void Reset()
    {
        _keptLength = 0;
        _totalLength = 0;
    }
}
