using System.Text.RegularExpressions;
using CrabLambda.Runtimes;

namespace CrabLambda.Functions;

/// <summary>
/// Checks deploy input against the contract: name, runtime, handler, limits and code size. Collects every problem
/// so that one answer names each bad field.
/// </summary>
internal sealed partial class FunctionValidator(CrabLambdaOptions options, RuntimeRegistry runtimes)
{
    public const int MaxMemoryMb = CrabLambdaOptionsValidator.MaxMemoryMb;
    public const int MaxHandlerLength = 256;

    private readonly Dictionary<string, string[]> _errors = new(StringComparer.Ordinal);

    public bool HasErrors => _errors.Count > 0;

    /// <summary>Throws <see cref="CodeTooLargeException"/> when code passes the size limit.</summary>
    public void CheckCodeSize(string? code)
    {
        if (code is null)
        {
            return;
        }

        var limit = (long)options.MaxFunctionSizeMb * 1024 * 1024;
        if (code.Length > limit || System.Text.Encoding.UTF8.GetByteCount(code) > limit)
        {
            throw new CodeTooLargeException(
                $"The code is larger than the limit of {options.MaxFunctionSizeMb} MB (MAX_FUNCTION_SIZE_MB).");
        }
    }

    public void CheckName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            Add("name", "The name is required.");
        }
        else if (!NamePattern().IsMatch(name))
        {
            Add(
                "name",
                "The name must be 1–64 characters of A-Z, a-z, 0-9, '-' and '_', starting with a letter or digit.");
        }
    }

    public IRuntime? CheckRuntime(string? runtime)
    {
        if (string.IsNullOrEmpty(runtime))
        {
            Add("runtime", "The runtime is required. Available: " + string.Join(", ", runtimes.Names) + ".");
            return null;
        }

        if (!runtimes.TryGet(runtime, out var found))
        {
            Add(
                "runtime",
                $"The runtime '{runtime}' is not available. Available: " + string.Join(", ", runtimes.Names) + ".");
            return null;
        }

        return found;
    }

    public void CheckHandler(string? handler, IRuntime? runtime)
    {
        if (string.IsNullOrWhiteSpace(handler))
        {
            Add("handler", "The handler is required: the name of the function to call.");
            return;
        }

        if (handler.Length > MaxHandlerLength)
        {
            Add("handler", $"The handler must be at most {MaxHandlerLength} characters.");
            return;
        }

        var problem = runtime?.ValidateHandler(handler);
        if (problem is not null)
        {
            Add("handler", problem);
        }
    }

    public void CheckCode(string? code)
    {
        if (string.IsNullOrWhiteSpace(code))
        {
            Add("code", "The code is required and must not be empty.");
        }
        else if (code.Contains('\0', StringComparison.Ordinal))
        {
            Add("code", "The code must not contain NUL characters.");
        }
    }

    public void CheckMemory(int? memoryMb)
    {
        if (memoryMb is { } value && value is < 1 or > MaxMemoryMb)
        {
            Add("memory_mb", $"memory_mb must be between 1 and {MaxMemoryMb}; it was {value}.");
        }
    }

    public void CheckTimeout(int? timeoutSecs)
    {
        if (timeoutSecs is { } value && (value < 1 || value > options.MaxTimeoutSecs))
        {
            Add(
                "timeout_secs",
                $"timeout_secs must be between 1 and {options.MaxTimeoutSecs} (MAX_TIMEOUT_SECS); it was {value}.");
        }
    }

    public void Add(string field, string message)
    {
        _errors[field] = _errors.TryGetValue(field, out var existing) ? [.. existing, message] : [message];
    }

    /// <summary>
    /// Throws a <see cref="FunctionValidationException"/> naming every problem found, if there were any.
    /// </summary>
    public void ThrowIfInvalid()
    {
        if (HasErrors)
        {
            throw new FunctionValidationException(_errors);
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
