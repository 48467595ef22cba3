using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using CrabLambda.Runtimes;

namespace CrabLambda.Execution.Process;

/// <summary>The kinds of message a worker sends.</summary>
internal enum WorkerMessageType
{
    /// <summary>The function loaded; the worker waits for invocations.</summary>
    Ready,

    /// <summary>The function could not be loaded; the worker exits.</summary>
    LoadError,

    /// <summary>An invocation finished.</summary>
    Result,
}

/// <summary>
/// A message from a worker, parsed. For a result, <see cref="Output"/> is the handler's return value exactly as the
/// worker serialised it, unless it was larger than allowed.
/// </summary>
internal sealed record WorkerMessage(
    WorkerMessageType Type,
    string? Id = null,
    bool Ok = false,
    string? Output = null,
    long OutputBytes = 0,
    string? Error = null,
    string? Trace = null)
{
    /// <summary>The error with its trace as one text; the trace alone when it starts with the message.</summary>
    public string DescribeError()
    {
        var message = string.IsNullOrEmpty(Error) ? "The function failed without a message." : Error;
        if (string.IsNullOrWhiteSpace(Trace))
        {
            return message;
        }

        var trace = Trace.TrimEnd();
        return trace.StartsWith(message, StringComparison.Ordinal) ? trace : $"{message}\n{trace}";
    }
}

/// <summary>A worker sent something that is not a message of the worker protocol.</summary>
internal sealed class WorkerProtocolException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A worker sent a frame larger than the host accepts.</summary>
internal sealed class WorkerFrameTooLargeException(long length) : Exception($"A frame of {length} bytes is too large.")
{
    /// <summary>The announced length of the frame, in bytes.</summary>
    public long Length { get; } = length;
}

/// <summary>
/// Writes and reads the JSON messages of the worker protocol (see <c>docs/worker-protocol.md</c>).
/// </summary>
internal static class WorkerMessages
{
    private static readonly byte[] s_emptyEvent = "{}"u8.ToArray();

    /// <summary>How deeply an event may nest: as deep as the function client accepts.</summary>
    public const int MaxEventDepth = 256;

    /// <summary>How deeply a handler's return value may nest: as deep as an event.</summary>
    public const int MaxOutputDepth = MaxEventDepth;

    // A result frame holds the output one level down.
    private static readonly JsonDocumentOptions s_messageOptions = new() { MaxDepth = MaxOutputDepth + 1 };

    // Only for a frame that failed to parse: a reader's cost stays linear however deep it goes, and the channel
    // bounds a frame's length.
    private static readonly JsonReaderOptions s_unboundedOptions = new() { MaxDepth = int.MaxValue };

    /// <summary>
    /// Checks that an event is one JSON value and returns it unchanged; an empty event is <c>{}</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The event is not valid JSON.</exception>
    public static ReadOnlyMemory<byte> ValidateEvent(ReadOnlyMemory<byte> eventJson)
    {
        if (eventJson.IsEmpty)
        {
            return s_emptyEvent;
        }

        var reader = new Utf8JsonReader(eventJson.Span, new JsonReaderOptions { MaxDepth = MaxEventDepth });
        try
        {
            if (!reader.Read())
            {
                throw new JsonException("The event is blank.");
            }

            reader.Skip();
            if (reader.Read())
            {
                throw new JsonException("The event holds more than one JSON value.");
            }
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"The event is not valid JSON: {e.Message}", nameof(eventJson), e);
        }

        return eventJson;
    }

    /// <summary>
    /// Builds the framed <c>invoke</c> message. The event is copied in as it came, byte for byte.
    /// </summary>
    public static ReadOnlyMemory<byte> BuildInvoke(
        ExecutionRequest request,
        ReadOnlySpan<byte> eventJson,
        string marker,
        long deadlineUnixMs)
    {
        var buffer = new ArrayBufferWriter<byte>(eventJson.Length + 512);
        buffer.GetSpan(WorkerProtocol.LengthPrefixBytes);
        buffer.Advance(WorkerProtocol.LengthPrefixBytes);

        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "invoke"u8);
            writer.WriteString("id"u8, request.ExecutionId);
            writer.WriteString("marker"u8, marker);
            writer.WriteNumber("deadline_ms"u8, deadlineUnixMs);
            writer.WriteStartObject("context"u8);
            writer.WriteString("function_name"u8, request.FunctionName);
            writer.WriteNumber("function_version"u8, request.Version.Version);
            writer.WriteString("execution_id"u8, request.ExecutionId);
            writer.WriteNumber("memory_limit_mb"u8, request.Version.MemoryMb);
            writer.WriteEndObject();
            writer.WritePropertyName("event"u8);
            writer.WriteRawValue(eventJson, skipInputValidation: true);
            writer.WriteEndObject();
        }

        var frame = MemoryMarshal.AsMemory(buffer.WrittenMemory);
        BinaryPrimitives.WriteUInt32BigEndian(frame.Span, (uint)(frame.Length - WorkerProtocol.LengthPrefixBytes));
        return frame;
    }

    /// <summary>
    /// Builds the framed <c>load</c> message that tells a generic worker which function to load.
    /// </summary>
    /// <param name="codePath">The code file as the worker sees it.</param>
    /// <param name="handler">The handler the version names.</param>
    public static ReadOnlyMemory<byte> BuildLoad(string codePath, string handler)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.GetSpan(WorkerProtocol.LengthPrefixBytes);
        buffer.Advance(WorkerProtocol.LengthPrefixBytes);

        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "load"u8);
            writer.WriteString("code_path"u8, codePath);
            writer.WriteString("handler"u8, handler);
            writer.WriteEndObject();
        }

        var frame = MemoryMarshal.AsMemory(buffer.WrittenMemory);
        BinaryPrimitives.WriteUInt32BigEndian(frame.Span, (uint)(frame.Length - WorkerProtocol.LengthPrefixBytes));
        return frame;
    }

    /// <summary>Parses one message from a worker.</summary>
    /// <param name="payload">The frame's JSON.</param>
    /// <param name="maxOutputBytes">The largest return value kept; a larger one is only measured.</param>
    /// <exception cref="WorkerProtocolException">The payload is not a protocol message.</exception>
    public static WorkerMessage Parse(ReadOnlyMemory<byte> payload, long maxOutputBytes)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload, s_messageOptions);
        }
        catch (JsonException e)
        {
            // An output nested too deeply, or no JSON at all: only such a frame pays for a second read that tells.
            return ParseTooDeep(payload.Span, e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new WorkerProtocolException("A worker message must be a JSON object.");
            }

            return GetString(root, "type") switch
            {
                "ready" => new WorkerMessage(WorkerMessageType.Ready),
                "error" => new WorkerMessage(
                    WorkerMessageType.LoadError,
                    Error: GetString(root, "error"),
                    Trace: GetString(root, "trace")),
                "result" => ParseResult(root, maxOutputBytes),
                var type => throw new WorkerProtocolException($"Unknown worker message type '{type}'."),
            };
        }
    }

    /// <summary>
    /// Reads a frame that did not parse within the depth a message may have. A result whose output nests deeper than
    /// an output may is the handler's failure, not the worker's; anything else breaks the protocol.
    /// </summary>
    /// <remarks>
    /// A reader, not a document: a document's cost grows with the square of the depth, and a frame of brackets
    /// within the frame limit nests millions of levels deep.
    /// </remarks>
    private static WorkerMessage ParseTooDeep(ReadOnlySpan<byte> payload, JsonException error)
    {
        string? type = null;
        string? id = null;
        var ok = false;
        var outputDepth = 0;
        try
        {
            var reader = new Utf8JsonReader(payload, s_unboundedOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new WorkerProtocolException("A worker message must be a JSON object.");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "type":
                        type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                        break;
                    case "id":
                        id = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                        break;
                    case "ok":
                        ok = reader.TokenType == JsonTokenType.True;
                        break;
                    case "output":
                        outputDepth = ReadNesting(ref reader);
                        break;
                }

                reader.Skip();
            }

            while (reader.Read())
            {
                // A reader throws on anything but white space after the value.
            }
        }
        catch (JsonException)
        {
            throw new WorkerProtocolException("A worker message is not valid JSON.", error);
        }

        if (type == "result" && ok && outputDepth > MaxOutputDepth)
        {
            return new WorkerMessage(
                WorkerMessageType.Result,
                id,
                Error: $"The handler's return value cannot be recorded: output nested deeper than {MaxOutputDepth} "
                    + "levels, the most an output (like an event) may nest.");
        }

        throw new WorkerProtocolException(
            $"A worker message is nested deeper than {MaxOutputDepth + 1} levels.",
            error);
    }

    /// <summary>Reads past a value and returns how many levels it nests: 0 for a scalar, 1 for <c>[1]</c>.</summary>
    private static int ReadNesting(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return 0;
        }

        var outer = reader.CurrentDepth;
        var deepest = 1;
        while (reader.Read() && reader.CurrentDepth > outer)
        {
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                deepest = Math.Max(deepest, reader.CurrentDepth - outer + 1);
            }
        }

        return deepest;
    }

    private static WorkerMessage ParseResult(JsonElement root, long maxOutputBytes)
    {
        var id = GetString(root, "id");
        var ok = root.TryGetProperty("ok"u8, out var okElement) && okElement.ValueKind == JsonValueKind.True;
        if (!ok)
        {
            return new WorkerMessage(
                WorkerMessageType.Result,
                id,
                Error: GetString(root, "error"),
                Trace: GetString(root, "trace"));
        }

        if (!root.TryGetProperty("output"u8, out var output))
        {
            throw new WorkerProtocolException("A successful result has no output.");
        }

        var raw = JsonMarshal.GetRawUtf8Value(output);
        var text = raw.Length > maxOutputBytes ? null : Encoding.UTF8.GetString(raw);
        return new WorkerMessage(WorkerMessageType.Result, id, Ok: true, Output: text, OutputBytes: raw.Length);
    }

    private static string? GetString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
