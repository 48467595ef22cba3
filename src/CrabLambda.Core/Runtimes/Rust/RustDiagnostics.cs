using System.Text;
using System.Text.Json;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Turns the compiler's JSON diagnostics into the message of a refused deploy: the errors as rustc renders them,
/// with lines numbered as in the user's code, without this machine's paths, and with errors in the generated part
/// of the program explained in terms of the handler.
/// </summary>
internal static class RustDiagnostics
{
    private const int MaxErrors = 20;
    private const int MaxLength = 32 * 1024;

    /// <summary>
    /// Formats the error diagnostics of the function's own crate, or returns <see langword="null"/> when there are
    /// none (the build then failed for a reason that is not the code's).
    /// </summary>
    /// <param name="messages">The <c>message</c> objects of cargo's <c>compiler-message</c> lines.</param>
    /// <param name="program">The program that was compiled.</param>
    /// <param name="hiddenPaths">Folders of this machine to cut from the text, longest first.</param>
    public static string? Format(
        IEnumerable<JsonElement> messages,
        RustProgram program,
        IReadOnlyList<string> hiddenPaths)
    {
        var all = messages.Where(IsError).ToList();
        if (all.Count == 0)
        {
            return null;
        }

        // An error in the user's lines often makes the generated call fail too; that echo would only confuse.
        var inUserCode = all.Where(message => PointsIntoUserCode(message, program)).ToList();
        var errors = (inUserCode.Count > 0 ? inUserCode : all)
            .Select(message => Describe(message, program))
            .Distinct(StringComparer.Ordinal)
            .ToList();

        var text = new StringBuilder("The function does not compile:\n\n");
        foreach (var error in errors.Take(MaxErrors))
        {
            text.Append(Sanitize(error, hiddenPaths).TrimEnd()).Append("\n\n");
        }

        if (errors.Count > MaxErrors)
        {
            text.Append($"… and {errors.Count - MaxErrors} more errors.\n");
        }

        var result = text.ToString().TrimEnd();
        return result.Length <= MaxLength ? result : result[..MaxLength] + "\n… (cut)";
    }

    /// <summary>Cuts this machine's folders out of compiler or cargo output.</summary>
    public static string Sanitize(string text, IReadOnlyList<string> hiddenPaths)
    {
        foreach (var path in hiddenPaths.Where(p => p.Length > 1).OrderByDescending(p => p.Length))
        {
            text = text.Replace(path.TrimEnd('/') + "/", "", StringComparison.Ordinal);
        }

        // rustc notes where it wrote a long type name: a path inside the cache, of no use to the user.
        var lines = text.Split('\n').Where(line =>
            !line.Contains("has been written to", StringComparison.Ordinal) &&
            !line.Contains("consider using `--verbose`", StringComparison.Ordinal));
        return string.Join('\n', lines);
    }

    private static bool IsError(JsonElement message)
    {
        var level = message.GetProperty("level").GetString() ?? "";
        if (!level.StartsWith("error", StringComparison.Ordinal))
        {
            return false;
        }

        // "aborting due to N previous errors" only counts the others.
        return message.GetProperty("spans").GetArrayLength() > 0 ||
            !(message.GetProperty("message").GetString() ?? "").StartsWith("aborting", StringComparison.Ordinal);
    }

    private static string Describe(JsonElement message, RustProgram program)
    {
        var rendered = message.TryGetProperty("rendered", out var r) ? r.GetString() : null;
        var text = message.GetProperty("message").GetString() ?? "";

        return PointsIntoUserCode(message, program)
            ? rendered ?? "error: " + text
            : ExplainGeneratedError(message, text, program.Handler);
    }

    /// <summary>Whether the error's primary place is in the user's lines rather than in the generated ones.</summary>
    private static bool PointsIntoUserCode(JsonElement message, RustProgram program)
    {
        foreach (var span in message.GetProperty("spans").EnumerateArray())
        {
            if (span.GetProperty("is_primary").GetBoolean())
            {
                return span.GetProperty("file_name").GetString() != RustProgram.SourceFileName ||
                    span.GetProperty("line_start").GetInt32() <= program.UserLineCount;
            }
        }

        return true;
    }

    /// <summary>
    /// An error in the generated <c>main</c> means the handler is missing or does not fit; its rendering would show
    /// code the user never wrote, so it is replaced by what to change.
    /// </summary>
    private static string ExplainGeneratedError(JsonElement message, string text, string handler)
    {
        if (text.StartsWith("cannot find", StringComparison.Ordinal) &&
            text.Contains($"`{handler}`", StringComparison.Ordinal))
        {
            return $"error: the code has no function named `{handler}` at its top level. Define " +
                $"`fn {handler}(event: Value) -> String` (or another supported signature), or change the handler.";
        }

        if (text.Contains("`main`", StringComparison.Ordinal))
        {
            return "error: the code defines `main`, but the Rust runtime writes the program's `main` itself. " +
                "Remove or rename yours.";
        }

        var explanation = new StringBuilder($"error: the handler `{handler}` cannot be called: {text}");
        foreach (var child in message.GetProperty("children").EnumerateArray())
        {
            var note = child.GetProperty("message").GetString();
            if (!string.IsNullOrWhiteSpace(note) && child.GetProperty("spans").GetArrayLength() == 0)
            {
                explanation.Append("\n  = ").Append(note.Replace("\n", "\n    ", StringComparison.Ordinal));
            }
        }

        explanation.Append($"\n\nA handler is `fn {handler}(event: Value) -> T` or ")
            .Append($"`fn {handler}(event: Value, context: Context) -> T`. The event may be any type that serde can ")
            .Append("deserialize; T may be a String, a Value, any type that implements serde::Serialize, or a ")
            .Append("Result<T, E> whose E implements Display.");
        return explanation.ToString();
    }
}
