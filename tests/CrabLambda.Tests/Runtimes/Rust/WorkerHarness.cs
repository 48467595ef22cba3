using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CrabLambda.Runtimes;

namespace CrabLambda.Tests.Runtimes.Rust;

/// <summary>
/// The host side of the worker protocol, just enough to drive any runtime's worker program in a test: it listens
/// on a Unix socket, starts the worker, sends invocations and cuts the worker's stdout and stderr at each marker.
/// </summary>
internal sealed class WorkerHarness : IAsyncDisposable
{
    private static readonly TimeSpan _patience = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly Socket _listener;
    private readonly string _socketPath;
    private readonly OutputPump _stdout;
    private readonly OutputPump _stderr;
    private Socket? _connection;

    private WorkerHarness(Process process, Socket listener, string socketPath)
    {
        _process = process;
        _listener = listener;
        _socketPath = socketPath;
        _stdout = new OutputPump(process.StandardOutput.BaseStream);
        _stderr = new OutputPump(process.StandardError.BaseStream);
    }

    /// <summary>The worker's first message: ready, or the error that kept it from loading.</summary>
    public JsonObject Hello { get; private set; } = [];

    /// <summary>The worker process, for its id and exit code.</summary>
    public Process Process => _process;

    /// <summary>
    /// Starts a worker with a clean environment and waits for its first message, or, for a generic worker, only for
    /// its connection (then <see cref="LoadAsync"/> tells it what to load).
    /// </summary>
    public static async Task<WorkerHarness> StartAsync(WorkerLaunch launch, bool generic = false)
    {
        var socketPath = Path.Combine(Path.GetTempPath(), $"clw-{RandomNumberGenerator.GetHexString(12, true)}.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);

        var start = new ProcessStartInfo(launch.Executable)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in launch.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        foreach (var (name, value) in launch.Environment)
        {
            start.Environment[name] = value;
        }

        start.Environment[WorkerProtocol.SocketVariable] = socketPath;
        var process = Process.Start(start) ?? throw new InvalidOperationException("The worker did not start.");
        process.StandardInput.Close();

        var harness = new WorkerHarness(process, listener, socketPath);
        using var timeout = new CancellationTokenSource(_patience);
        harness._connection = await listener.AcceptAsync(timeout.Token);
        if (!generic)
        {
            harness.Hello = await harness.ReadFrameAsync(timeout.Token);
        }

        return harness;
    }

    /// <summary>Sends a generic worker its load message and waits for its answer, ready or the load error.</summary>
    public Task LoadAsync(string codePath, string handler) =>
        SendFirstAsync(new JsonObject { ["type"] = "load", ["code_path"] = codePath, ["handler"] = handler });

    /// <summary>Sends a generic worker a first message of any kind and waits for its answer.</summary>
    public async Task SendFirstAsync(JsonObject message)
    {
        using var timeout = new CancellationTokenSource(_patience);
        await WriteFrameAsync(message, timeout.Token);
        Hello = await ReadFrameAsync(timeout.Token);
    }

    /// <summary>Sends one invocation and returns its result with the log lines it wrote.</summary>
    public async Task<WorkerReply> InvokeAsync(string eventJson, string functionName = "test-function")
    {
        var id = Guid.NewGuid().ToString();
        var marker = RandomNumberGenerator.GetHexString(32, true);
        var request = new JsonObject
        {
            ["type"] = "invoke",
            ["id"] = id,
            ["marker"] = marker,
            ["deadline_ms"] = DateTimeOffset.UtcNow.Add(_patience).ToUnixTimeMilliseconds(),
            ["context"] = new JsonObject
            {
                ["function_name"] = functionName,
                ["function_version"] = 1,
                ["execution_id"] = id,
                ["memory_limit_mb"] = 128,
            },
            ["event"] = JsonNode.Parse(eventJson),
        };

        using var timeout = new CancellationTokenSource(_patience);
        await WriteFrameAsync(request, timeout.Token);
        var result = await ReadFrameAsync(timeout.Token);
        var stdout = await _stdout.CutAsync(marker, timeout.Token);
        var stderr = await _stderr.CutAsync(marker, timeout.Token);

        Assert.Equal("result", (string?)result["type"]);
        Assert.Equal(id, (string?)result["id"]);
        return new WorkerReply(result, stdout, stderr);
    }

    /// <summary>Closes the socket, as a host that goes away does, and returns the worker's exit code.</summary>
    public async Task<int> CloseAsync()
    {
        _connection?.Shutdown(SocketShutdown.Both);
        _connection?.Dispose();
        using var timeout = new CancellationTokenSource(_patience);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        _connection?.Dispose();
        _listener.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        File.Delete(_socketPath);
    }

    private async Task<JsonObject> ReadFrameAsync(CancellationToken cancellationToken)
    {
        var connection = _connection ?? throw new InvalidOperationException("No worker is connected.");
        var prefix = new byte[WorkerProtocol.LengthPrefixBytes];
        await ReceiveExactlyAsync(connection, prefix, cancellationToken);

        var body = new byte[BinaryPrimitives.ReadUInt32BigEndian(prefix)];
        await ReceiveExactlyAsync(connection, body, cancellationToken);
        return JsonNode.Parse(body)?.AsObject() ?? throw new InvalidDataException("The worker sent null.");
    }

    private async Task WriteFrameAsync(JsonObject message, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message);
        var frame = new byte[WorkerProtocol.LengthPrefixBytes + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, WorkerProtocol.LengthPrefixBytes);
        await _connection!.SendAsync(frame, SocketFlags.None, cancellationToken);
    }

    private static async Task ReceiveExactlyAsync(Socket connection, Memory<byte> buffer, CancellationToken token)
    {
        while (buffer.Length > 0)
        {
            var read = await connection.ReceiveAsync(buffer, SocketFlags.None, token);
            if (read == 0)
            {
                throw new EndOfStreamException("The worker closed the socket.");
            }

            buffer = buffer[read..];
        }
    }

    /// <summary>Collects one output stream of the worker and hands it out an invocation at a time.</summary>
    private sealed class OutputPump
    {
        private readonly StringBuilder _pending = new();
        private readonly SemaphoreSlim _arrived = new(0);
        private readonly Task _reading;

        public OutputPump(Stream stream) => _reading = PumpAsync(stream);

        /// <summary>Waits for <c>"\n" + marker + "\n"</c> and returns the lines written before it.</summary>
        public async Task<IReadOnlyList<string>> CutAsync(string marker, CancellationToken cancellationToken)
        {
            var end = "\n" + marker + "\n";
            while (true)
            {
                lock (_pending)
                {
                    var text = _pending.ToString();
                    var at = text.IndexOf(end, StringComparison.Ordinal);
                    if (at >= 0)
                    {
                        _pending.Remove(0, at + end.Length);
                        return at == 0 ? [] : LastNewlineRemoved(text[..at]).Split('\n');
                    }
                }

                if (_reading.IsCompleted)
                {
                    throw new EndOfStreamException($"The worker's output ended before the marker {marker}.");
                }

                await _arrived.WaitAsync(cancellationToken);
            }
        }

        /// <summary>A final newline ends the last line rather than starting an empty one.</summary>
        private static string LastNewlineRemoved(string text) => text.EndsWith('\n') ? text[..^1] : text;

        private async Task PumpAsync(Stream stream)
        {
            var buffer = new byte[4096];
            var decoder = Encoding.UTF8.GetDecoder();
            var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                var count = decoder.GetChars(buffer, 0, read, chars, 0);
                lock (_pending)
                {
                    _pending.Append(chars, 0, count);
                }

                _arrived.Release();
            }

            _arrived.Release();
        }
    }
}

/// <summary>A worker's answer to one invocation.</summary>
/// <param name="Result">The result frame.</param>
/// <param name="Stdout">The stdout lines written during the invocation.</param>
/// <param name="Stderr">The stderr lines written during the invocation.</param>
internal sealed record WorkerReply(JsonObject Result, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)
{
    public bool Ok => (bool?)Result["ok"] == true;

    public string? OutputJson => Result["output"]?.ToJsonString();

    public string? Error => (string?)Result["error"];

    public string? Trace => (string?)Result["trace"];
}
