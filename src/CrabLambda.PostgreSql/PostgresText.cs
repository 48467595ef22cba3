using System.Text;

namespace CrabLambda.PostgreSql;

/// <summary>
/// Makes text storable in PostgreSQL, which refuses the NUL character in <c>TEXT</c> and refuses <c>\u0000</c> and
/// unpaired surrogate escapes in <c>JSONB</c>. Each is replaced with U+FFFD, so that one odd byte in a function's
/// output cannot fail the batch of executions it is written with.
/// </summary>
internal static class PostgresText
{
    private const char Replacement = '\uFFFD';
    private const string ReplacementEscape = "\\ufffd";

    /// <summary>Replaces NUL characters and unpaired surrogates.</summary>
    /// <param name="text">The text, or <see langword="null"/>.</param>
    /// <returns>The same instance when nothing needed replacing.</returns>
    public static string? Clean(string? text)
    {
        if (text is null || !NeedsCleaning(text))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[i + 1]);
                i++;
            }
            else if (c == '\0' || char.IsSurrogate(c))
            {
                builder.Append(Replacement);
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// Replaces NUL characters and unpaired surrogates, and the <c>\u0000</c> and unpaired surrogate escapes inside
    /// JSON strings.
    /// </summary>
    /// <param name="json">JSON text, or <see langword="null"/>.</param>
    /// <returns>The same instance when nothing needed replacing.</returns>
    public static string? CleanJson(string? json)
    {
        var text = Clean(json);
        if (text is null || !text.Contains("\\u", StringComparison.Ordinal))
        {
            return text;
        }

        // In valid JSON a backslash only occurs inside a string, so walking escape by escape is enough.
        var builder = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] != '\\' || i + 1 >= text.Length)
            {
                builder.Append(text[i]);
                i++;
            }
            else if (text[i + 1] != 'u' || !TryReadUnicodeEscape(text, i, out var unit))
            {
                builder.Append(text, i, 2);
                i += 2;
            }
            else if (char.IsHighSurrogate(unit)
                && TryReadUnicodeEscape(text, i + 6, out var next)
                && char.IsLowSurrogate(next))
            {
                builder.Append(text, i, 12);
                i += 12;
            }
            else if (unit == '\0' || char.IsSurrogate(unit))
            {
                builder.Append(ReplacementEscape);
                i += 6;
            }
            else
            {
                builder.Append(text, i, 6);
                i += 6;
            }
        }

        return builder.ToString();
    }

    private static bool NeedsCleaning(string text)
    {
        var span = text.AsSpan();
        return span.Contains('\0')
            || (span.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0 && HasUnpairedSurrogate(span));
    }

    private static bool HasUnpairedSurrogate(ReadOnlySpan<char> span)
    {
        for (var i = 0; i < span.Length; i++)
        {
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(span[i]))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryReadUnicodeEscape(string text, int start, out char unit)
    {
        unit = default;
        if (start + 6 > text.Length || text[start] != '\\' || text[start + 1] != 'u')
        {
            return false;
        }

        var value = 0;
        for (var i = start + 2; i < start + 6; i++)
        {
            var digit = HexValue(text[i]);
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        unit = (char)value;
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
