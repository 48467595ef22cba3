using System.Text;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Writes values into generated TOML.
/// </summary>
internal static class Toml
{
    /// <summary>Escapes text for a TOML basic string (between double quotes).</summary>
    public static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            escaped.Append(c switch
            {
                '\\' => @"\\",
                '"' => "\\\"",
                < ' ' or '\u007f' => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        return escaped.ToString();
    }
}
