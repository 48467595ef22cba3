using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using CrabLambda.Execution.Process;

namespace CrabLambda.Functions;

/// <summary>
/// Decides whether an event can be run and recorded: one JSON value that every runtime reads as it was sent and
/// every store keeps. Checked before the function runs, so an event no part can take is refused, not half-run.
/// </summary>
internal static class EventCheck
{
    /// <summary>
    /// The most digits a number may have after its decimal point, counting those its exponent adds (1e-5 has five).
    /// PostgreSQL's <c>numeric</c>, behind <c>JSONB</c>, stops at 16,383; no double needs more than about 1,100.
    /// </summary>
    public const int MaxDecimalPlaces = 1000;

    // A number is quoted in a problem up to this many characters.
    private const int QuotedNumberLength = 40;

    /// <summary>
    /// Returns what is wrong with the event, or <see langword="null"/> when it can run.
    /// </summary>
    public static string? Problem(ReadOnlySpan<byte> input, int maxEventMb)
    {
        if (input.Length > (long)maxEventMb * 1024 * 1024)
        {
            return $"The event is larger than the limit of {maxEventMb} MB.";
        }

        if (!Utf8.IsValid(input))
        {
            // The JSON reader does not look inside strings; a worker decoding them would fail instead.
            return "The event is not valid UTF-8.";
        }

        var reader = new Utf8JsonReader(input, new JsonReaderOptions { MaxDepth = WorkerMessages.MaxEventDepth });
        try
        {
            while (reader.Read())
            {
                var problem = reader.TokenType switch
                {
                    JsonTokenType.Number => NumberProblem(reader.ValueSpan),
                    JsonTokenType.String or JsonTokenType.PropertyName => TextProblem(ref reader),
                    _ => null,
                };
                if (problem is not null)
                {
                    return problem;
                }

                if (reader.CurrentDepth == 0 && reader.TokenType is not JsonTokenType.StartObject
                    and not JsonTokenType.StartArray)
                {
                    break;
                }
            }

            if (reader.Read())
            {
                return "The event must be a single JSON value.";
            }
        }
        catch (JsonException ex)
        {
            return "The event is not valid JSON: " + ex.Message;
        }

        return null;
    }

    // Python and Node.js would read a number beyond a double as infinity, Rust refuses it, and PostgreSQL refuses
    // one with too many decimal places: none of them would see what was sent.
    private static string? NumberProblem(ReadOnlySpan<byte> number)
    {
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || !double.IsFinite(value))
        {
            return $"The event has the number {Quote(number)}, beyond what a 64-bit float holds (about ±1.8e308), "
                + "so the runtimes cannot read it. Send it as a string.";
        }

        if (DecimalPlaces(number) > MaxDecimalPlaces)
        {
            return $"The event has the number {Quote(number)}, with more than {MaxDecimalPlaces} digits after the "
                + "decimal point (counting its exponent), more than the stores keep. Send it as a string.";
        }

        return null;
    }

    private static long DecimalPlaces(ReadOnlySpan<byte> number)
    {
        var exponentAt = number.IndexOfAny((byte)'e', (byte)'E');
        var mantissa = exponentAt < 0 ? number : number[..exponentAt];
        var pointAt = mantissa.IndexOf((byte)'.');
        long places = pointAt < 0 ? 0 : mantissa.Length - pointAt - 1;
        if (exponentAt < 0)
        {
            return places;
        }

        var exponentText = number[(exponentAt + 1)..];
        if (!long.TryParse(exponentText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exponent))
        {
            // Beyond a long: a finite double means a negative exponent, far past any limit.
            return long.MaxValue;
        }

        // Clamped to an int's range, the exponent cannot overflow the sum.
        return places - Math.Clamp(exponent, -int.MaxValue, int.MaxValue);
    }

    // An escape of half a surrogate pair with no other half (\ud800 alone) is JSON that is not Unicode text: Rust
    // refuses it, PostgreSQL refuses it in JSONB, and the other runtimes would hand the function a broken string.
    private static string? TextProblem(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped || !HasSurrogateEscape(reader.ValueSpan))
        {
            return null;
        }

        try
        {
            reader.GetString();
            return null;
        }
        catch (InvalidOperationException)
        {
            var what = reader.TokenType == JsonTokenType.PropertyName ? "a field name" : "a string";
            return $"The event has {what} with an unpaired surrogate escape (\\ud800 to \\udfff without its other "
                + "half), which is not Unicode text. Send the character itself, or both halves of its pair.";
        }
    }

    private static bool HasSurrogateEscape(ReadOnlySpan<byte> escaped)
    {
        var at = escaped.IndexOf("\\u"u8);
        while (at >= 0 && at + 2 < escaped.Length)
        {
            if (escaped[at + 2] is (byte)'d' or (byte)'D')
            {
                return true;
            }

            var next = escaped[(at + 2)..].IndexOf("\\u"u8);
            at = next < 0 ? -1 : at + 2 + next;
        }

        return false;
    }

    private static string Quote(ReadOnlySpan<byte> number) => number.Length <= QuotedNumberLength
        ? Encoding.UTF8.GetString(number)
        : Encoding.UTF8.GetString(number[..QuotedNumberLength]) + "…";
}
