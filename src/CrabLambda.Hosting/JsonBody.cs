using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace CrabLambda.Hosting;

/// <summary>
/// Checks and reads JSON request bodies, with problems that say what is wrong and where.
/// </summary>
internal static class JsonBody
{
    // Deep enough for any real event, shallow enough that no runtime's parser runs out of stack on it.
    private const int MaxDepth = 256;

    private static readonly byte[] s_byteOrderMark = [0xEF, 0xBB, 0xBF];

    private static readonly Dictionary<string, string> s_fieldShapes = new(StringComparer.Ordinal)
    {
        ["name"] = "name must be a string.",
        ["runtime"] = "runtime must be a string.",
        ["code"] = "code must be a string.",
        ["handler"] = "handler must be a string.",
        ["memory_mb"] = "memory_mb must be a whole number of MiB.",
        ["timeout_secs"] = "timeout_secs must be a whole number of seconds.",
        ["network"] = "network must be true or false.",
    };

    /// <summary>
    /// Returns the event an invoke body carries: the body without a byte order mark, or empty for a blank body.
    /// Returns <see langword="null"/> with a problem when the body is not one JSON value.
    /// </summary>
    public static ReadOnlyMemory<byte>? ReadEvent(byte[] body, out IResult? problem)
    {
        var json = WithoutByteOrderMark(body);
        if (IsBlank(json.Span))
        {
            problem = null;
            return ReadOnlyMemory<byte>.Empty;
        }

        if (!IsValid(json.Span, out var reason))
        {
            problem = Problems.InvalidJson(reason);
            return null;
        }

        problem = null;
        return json;
    }

    /// <summary>
    /// Reads a JSON object body into <typeparamref name="T"/>. Returns <see langword="null"/> with a problem when
    /// the body is empty, not JSON, not an object, or has a field of the wrong type.
    /// </summary>
    public static T? ReadObject<T>(byte[] body, JsonTypeInfo<T> typeInfo, out IResult? problem)
        where T : class
    {
        var json = WithoutByteOrderMark(body).Span;
        if (IsBlank(json))
        {
            problem = Problems.BadRequest(
                "The request body is empty",
                "Send the function as a JSON object, for example "
                    + "{\"name\":\"hello\",\"runtime\":\"python\",\"code\":\"...\",\"handler\":\"handler\"}.");
            return null;
        }

        if (!IsValid(json, out var reason))
        {
            problem = Problems.InvalidJson(reason);
            return null;
        }

        if (json[SkipWhitespace(json)] != (byte)'{')
        {
            problem = NotAnObject();
            return null;
        }

        try
        {
            // Not null: the body is an object, checked above.
            problem = null;
            return JsonSerializer.Deserialize(json, typeInfo)!;
        }
        catch (JsonException exception)
        {
            var field = FieldOf(exception.Path);
            problem = field is not null && s_fieldShapes.TryGetValue(field, out var message)
                ? Problems.Invalid(field, message)
                : NotAnObject();
            return null;
        }
    }

    private static IResult NotAnObject() =>
        Problems.Invalid("body", "The request body must be a JSON object.");

    private static ReadOnlyMemory<byte> WithoutByteOrderMark(byte[] body) =>
        body.AsSpan().StartsWith(s_byteOrderMark) ? body.AsMemory(s_byteOrderMark.Length) : body;

    private static bool IsBlank(ReadOnlySpan<byte> json) => SkipWhitespace(json) == json.Length;

    private static int SkipWhitespace(ReadOnlySpan<byte> json)
    {
        var index = json.IndexOfAnyExcept(" \t\r\n"u8);
        return index < 0 ? json.Length : index;
    }

    private static bool IsValid(ReadOnlySpan<byte> json, out string reason)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        try
        {
            while (reader.Read())
            {
            }

            reason = "";
            return true;
        }
        catch (JsonException exception)
        {
            reason = exception.Message;
            return false;
        }
    }

    // "$.memory_mb" names the field memory_mb; a path deeper than that still blames the top-level field.
    private static string? FieldOf(string? path)
    {
        if (path is null || !path.StartsWith("$.", StringComparison.Ordinal))
        {
            return null;
        }

        var field = path.AsSpan(2);
        var end = field.IndexOfAny('.', '[');
        return (end < 0 ? field : field[..end]).ToString();
    }
}
