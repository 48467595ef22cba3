using System.Text.Json;
using System.Text.Unicode;
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
    /// Reads a create or update body. Returns <see langword="null"/> with a problem when the body is empty, not JSON,
    /// not an object, or has fields of the wrong type or fields a function does not have, naming each of them.
    /// </summary>
    public static FunctionBody? ReadFunction(byte[] body, CrabLambdaOptions options, out IResult? problem)
    {
        var json = WithoutByteOrderMark(body);
        if (IsBlank(json.Span))
        {
            problem = Problems.BadRequest(
                "The request body is empty",
                "Send the function as a JSON object, for example "
                    + "{\"name\":\"hello\",\"runtime\":\"python\",\"code\":\"...\",\"handler\":\"handler\"}.");
            return null;
        }

        if (!Utf8.IsValid(json.Span))
        {
            problem = Problems.BadRequest(
                "The request body is not valid UTF-8",
                "Send the function as JSON text in UTF-8; the body has bytes that are not.");
            return null;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException exception)
        {
            problem = Problems.InvalidJson(exception.Message);
            return null;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                problem = NotAnObject();
                return null;
            }

            var function = FunctionBody.Read(document.RootElement, options, out var errors);
            problem = function is null ? Problems.Invalid(errors) : null;
            return function;
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
}
