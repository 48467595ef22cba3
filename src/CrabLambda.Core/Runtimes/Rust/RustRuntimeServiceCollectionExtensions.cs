using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Rust;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers the built-in Rust runtime.
/// </summary>
internal static class RustRuntimeServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Rust runtime, its compiler and the start-up warm-up. Settings come from
    /// <see cref="RustRuntimeOptions"/>, for example <c>services.Configure&lt;RustRuntimeOptions&gt;(...)</c>.
    /// </summary>
    public static IServiceCollection AddRustRuntime(this IServiceCollection services)
    {
        services.AddOptions<RustRuntimeOptions>().ValidateOnStart();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<IValidateOptions<RustRuntimeOptions>, RustRuntimeOptionsValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RustToolchainLocator>();
        services.TryAddSingleton<RustCompiler>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRuntime, RustRuntime>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RustWarmUpService>());
        return services;
    }
}
