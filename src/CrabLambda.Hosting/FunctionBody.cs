using System.Text.Json;
using CrabLambda.Hosting.Json;

namespace CrabLambda.Hosting;

/// <summary>
/// The fields of a create or update body. Read field by field rather than deserialised, so that one answer names
/// every field of a wrong type and every field a function does not have.
/// </summary>
internal sealed record FunctionBody(
    string? Name,
    string? Runtime,
    string? Code,
    string? Handler,
    int? MemoryMb,
    int? TimeoutSecs,
    bool? Network)
{
    // A PUT body may carry name and runtime too, when they match the function's, so both bodies have every field.
    private static readonly string[] s_fields =
        ["name", "runtime", "code", "handler", "memory_mb", "timeout_secs", "network"];

    private static readonly string s_fieldList = string.Join(", ", s_fields[..^1]) + " and " + s_fields[^1];

    /// <summary>
    /// Reads the fields of a JSON object. Returns <see langword="null"/> with the bad fields in
    /// <paramref name="errors"/> when a field has the wrong type or is not a field of a function; JSON <c>null</c> is
    /// a field left out.
    /// </summary>
    public static FunctionBody? Read(
        JsonElement body,
        CrabLambdaOptions options,
        out Dictionary<string, string[]> errors)
    {
        errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        string? name = null, runtime = null, code = null, handler = null;
        int? memoryMb = null, timeoutSecs = null;
        bool? network = null;

        foreach (var field in body.EnumerateObject())
        {
            if (!TryGetName(field, out var fieldName))
            {
                errors["body"] = ["A field name has an unpaired surrogate escape (\\ud800 to \\udfff without its "
                    + "other half), which is not Unicode text."];
                continue;
            }

            var value = field.Value;
            var problem = fieldName switch
            {
                "name" => ReadString(value, "name", ref name),
                "runtime" => ReadString(value, "runtime", ref runtime),
                "code" => ReadString(value, "code", ref code),
                "handler" => ReadString(value, "handler", ref handler),
                "memory_mb" => ReadWholeNumber(
                    value,
                    "memory_mb must be a whole number of MiB.",
                    $"memory_mb must be between 1 and {CrabLambdaOptions.MaxMemoryMb}",
                    ref memoryMb),
                "timeout_secs" => ReadWholeNumber(
                    value,
                    "timeout_secs must be a whole number of seconds.",
                    $"timeout_secs must be between 1 and {options.MaxTimeoutSecs} (MAX_TIMEOUT_SECS)",
                    ref timeoutSecs),
                "network" => ReadBoolean(value, ref network),
                _ => Unknown(fieldName),
            };
            // A field given twice takes its last value, as JSON.parse does, so only the last one's problem counts.
            if (problem is null)
            {
                errors.Remove(fieldName);
            }
            else
            {
                errors[fieldName] = [problem];
            }
        }

        return errors.Count > 0 ? null : new FunctionBody(name, runtime, code, handler, memoryMb, timeoutSecs, network);
    }

    private static string? ReadString(JsonElement value, string field, ref string? text)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                try
                {
                    text = value.GetString();
                    return null;
                }
                catch (InvalidOperationException)
                {
                    // System.Text.Json refuses to decode an escape of half a surrogate pair with no other half.
                    return $"{field} has an unpaired surrogate escape (\\ud800 to \\udfff without its other half), "
                        + "which is not Unicode text.";
                }

            case JsonValueKind.Null:
                text = null;
                return null;
            default:
                return $"{field} must be a string.";
        }
    }

    private static bool TryGetName(JsonProperty field, out string name)
    {
        try
        {
            name = field.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            name = "";
            return false;
        }
    }

    private static string? ReadBoolean(JsonElement value, ref bool? flag)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.True or JsonValueKind.False:
                flag = value.GetBoolean();
                return null;
            case JsonValueKind.Null:
                flag = null;
                return null;
            default:
                return "network must be true or false.";
        }
    }

    // 100, 1e2 and 100.0 are all the whole number 100; 1.5 and 15e-1 are not whole. A whole number too large for
    // the field is answered with the field's range here, since it cannot be passed on to be checked.
    private static string? ReadWholeNumber(JsonElement value, string notWhole, string range, ref int? number)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            number = null;
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number)
        {
            return notWhole;
        }

        var text = value.GetRawText();
        switch (JsonNumbers.ParseWhole(text, out var whole))
        {
            case WholeNumber.Whole:
                number = whole;
                return null;
            case WholeNumber.OutOfRange:
                return $"{range}; it was {text}.";
            default:
                return notWhole;
        }
    }

    private static string Unknown(string field)
    {
        var near = s_fields.FirstOrDefault(known => IsNear(field, known));
        var suggestion = near is null ? "" : $" Did you mean {near}?";
        return $"{field} is not a field of a function.{suggestion} The fields are {s_fieldList}.";
    }

    // Names a misspelling: the same name in another case, the name without its unit (timeout for timeout_secs), or
    // at most two letters added, dropped, changed or swapped with their neighbour (optimal string alignment
    // distance).
    private static bool IsNear(string field, string known)
    {
        if (string.Equals(field, known, StringComparison.OrdinalIgnoreCase)
            || known.StartsWith(field + "_", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var a = field.ToLowerInvariant();
        var b = known;
        if (Math.Abs(a.Length - b.Length) > 2)
        {
            return false;
        }

        var distance = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            distance[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            distance[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                var best = Math.Min(
                    Math.Min(distance[i - 1, j] + 1, distance[i, j - 1] + 1),
                    distance[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    best = Math.Min(best, distance[i - 2, j - 2] + 1);
                }

                distance[i, j] = best;
            }
        }

        return distance[a.Length, b.Length] <= 2;
    }
}
