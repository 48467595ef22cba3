using Microsoft.Extensions.Options;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Refuses Rust runtime settings that cannot work, at start-up.
/// </summary>
internal sealed class RustRuntimeOptionsValidator : IValidateOptions<RustRuntimeOptions>
{
    public ValidateOptionsResult Validate(string? name, RustRuntimeOptions options)
    {
        var failures = new List<string>();

        if (options.CompileTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{nameof(RustRuntimeOptions.CompileTimeout)} must be positive.");
        }

        if (options.MaxConcurrentCompiles is < 1 or > 64)
        {
            failures.Add($"{nameof(RustRuntimeOptions.MaxConcurrentCompiles)} must be between 1 and 64.");
        }

        if (options.CacheDirectory is { } cache && !Path.IsPathFullyQualified(cache))
        {
            failures.Add($"{nameof(RustRuntimeOptions.CacheDirectory)} must be an absolute path.");
        }

        if (options.ToolchainDirectory is { } toolchain && !Path.IsPathFullyQualified(toolchain))
        {
            failures.Add($"{nameof(RustRuntimeOptions.ToolchainDirectory)} must be an absolute path.");
        }

        if (!Path.IsPathFullyQualified(options.CrateRegistryDirectory))
        {
            failures.Add($"{nameof(RustRuntimeOptions.CrateRegistryDirectory)} must be an absolute path.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
