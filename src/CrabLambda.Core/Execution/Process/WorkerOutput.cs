namespace CrabLambda.Execution.Process;

/// <summary>
/// Reads a worker's stdout and stderr for as long as the worker lives and files their lines under the invocation
/// that wrote them: everything up to an invocation's marker on a stream belongs to that invocation, everything after
/// it to the next one.
/// </summary>
internal sealed class WorkerOutput
{
    private const int ReadBufferBytes = 16 * 1024;
    private const int PumpStackBytes = 256 * 1024;

    private readonly object _gate = new();
    private readonly Pump[] _pumps;
    private readonly long _maxLogBytes;
    private readonly int _maxLogLines;
    private readonly TimeProvider _timeProvider;

    public WorkerOutput(
        Stream stdout,
        Stream stderr,
        int maxLineBytes,
        long maxLogBytes,
        int maxLogLines,
        TimeProvider timeProvider)
    {
        _maxLogBytes = maxLogBytes;
        _maxLogLines = maxLogLines;
        _timeProvider = timeProvider;

        var first = new InvocationLog(maxLogBytes, maxLogLines);
        _pumps =
        [
            new Pump(this, InvocationLog.Stdout, "info", stdout, maxLineBytes, first),
            new Pump(this, InvocationLog.Stderr, "error", stderr, maxLineBytes, first),
        ];
    }

    /// <summary>
    /// Whether a stream reached its end (the function closed it, say): later output can no longer be cut into
    /// invocations.
    /// </summary>
    public bool HasEnded
    {
        get
        {
            lock (_gate)
            {
                return _pumps[InvocationLog.Stdout].Ended || _pumps[InvocationLog.Stderr].Ended;
            }
        }
    }

    /// <summary>Starts reading both streams.</summary>
    public void Start()
    {
        // Pipes of child processes only offer blocking reads on Unix: a thread of their own for each keeps them off the
        // thread pool however many workers run.
        foreach (var pump in _pumps)
        {
            var thread = new Thread(pump.Run, PumpStackBytes)
            {
                IsBackground = true,
                Name = "CrabLambda worker output",
            };
            thread.Start();
        }
    }

    /// <summary>
    /// Claims the lines read since the previous invocation ended (load-time output, say) for the invocation about to
    /// start, and sets the marker that will end its output.
    /// </summary>
    public InvocationLog Begin(ReadOnlySpan<byte> marker)
    {
        lock (_gate)
        {
            var log = _pumps[InvocationLog.Stdout].Current;
            if (!ReferenceEquals(log, _pumps[InvocationLog.Stderr].Current))
            {
                throw new InvalidOperationException("The previous invocation's output has not ended on both streams.");
            }

            foreach (var pump in _pumps)
            {
                pump.Splitter.SetMarker(marker);
            }

            return log;
        }
    }

    private void Advance(Pump pump)
    {
        pump.Current.MarkStreamDone(pump.Index);

        var other = _pumps[1 - pump.Index];
        if (!ReferenceEquals(other.Current, pump.Current))
        {
            pump.Current = other.Current;
            return;
        }

        var next = new InvocationLog(_maxLogBytes, _maxLogLines);
        if (other.Ended)
        {
            next.MarkStreamDone(other.Index);
        }

        pump.Current = next;
    }

    private sealed class Pump(
        WorkerOutput owner,
        int index,
        string level,
        Stream stream,
        int maxLineBytes,
        InvocationLog first) : ILogLineSink
    {
        public int Index { get; } = index;

        public LogStreamSplitter Splitter { get; } = new(maxLineBytes);

        public InvocationLog Current { get; set; } = first;

        public bool Ended { get; private set; }

        public void Run()
        {
            var buffer = new byte[ReadBufferBytes];
            try
            {
                while (true)
                {
                    var read = stream.Read(buffer);
                    if (read == 0)
                    {
                        break;
                    }

                    lock (owner._gate)
                    {
                        Splitter.Write(buffer.AsSpan(0, read), this);
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The pipe broke or was closed while the worker was stopped: the stream has ended either way.
            }
            finally
            {
                lock (owner._gate)
                {
                    Splitter.Complete(this);
                    Ended = true;
                    Current.MarkStreamDone(Index);
                }

                stream.Dispose();
            }
        }

        public void OnLine(ReadOnlySpan<byte> kept, long totalBytes) =>
            Current.Add(level, kept, totalBytes, owner._timeProvider.GetUtcNow());

        public void OnMarker() => owner.Advance(this);
    }
}
