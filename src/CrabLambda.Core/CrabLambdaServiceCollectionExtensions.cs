using CrabLambda;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Node;
using CrabLambda.Runtimes.Python;
using CrabLambda.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers CrabLambda in a service collection.
/// </summary>
public static class CrabLambdaServiceCollectionExtensions
{
    /// <summary>
    /// Adds the CrabLambda engine: the function client, the process executor and the Python and Node.js runtimes.
    /// Choose a store on the returned builder (<c>AddSqlite</c>, <c>AddPostgres</c>) and add runtimes with
    /// <see cref="AddRuntime{TRuntime}"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes to the default options.</param>
    /// <returns>A builder to add a store and runtimes with.</returns>
    public static ICrabLambdaBuilder AddCrabLambda(
        this IServiceCollection services,
        Action<CrabLambdaOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);

        var options = services.AddOptions<CrabLambdaOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<IValidateOptions<CrabLambdaOptions>, CrabLambdaOptionsValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RuntimeRegistry>();
        services.TryAddSingleton<ExecutionLimiter>();
        services.TryAddSingleton<ExecutionRecorder>();
        services.TryAddSingleton<RunningExecutions>();
        services.TryAddSingleton<DeployShutdown>();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<Hosting.IHostedService, DeployShutdown>(sp =>
                sp.GetRequiredService<DeployShutdown>()));
        services.TryAddSingleton<IFunctionClient, FunctionClient>();

        // The initializer runs first so storage is migrated before anything else starts.
        services.TryAddSingleton<StoreInitializer>();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<Hosting.IHostedService, StoreInitializer>(sp =>
                sp.GetRequiredService<StoreInitializer>()));
        services.TryAddSingleton(sp => new CrabLambdaHealth(sp, sp.GetRequiredService<StoreInitializer>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Hosting.IHostedService, RetentionService>());

        services.TryAddSingleton(sp => new Lazy<HostIsolation>(
            () => HostIsolation.Resolve(sp.GetRequiredService<IOptions<CrabLambdaOptions>>().Value.Isolation)));
        services.TryAddSingleton(sp => sp.GetRequiredService<Lazy<HostIsolation>>().Value);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Hosting.IHostedService, IsolationStartup>());
        services.TryAddSingleton<IWorkerLauncher, SandboxWorkerLauncher>();
        services.TryAddSingleton<IExecutor, ProcessExecutor>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Hosting.IHostedService, WorkerLifetimeService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRuntime, PythonRuntime>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRuntime, NodeRuntime>());
        services.AddRustRuntime();

        return new CrabLambdaBuilder(services);
    }

    /// <summary>
    /// Adds a runtime. Functions deployed with its name (or an alias) run through it, with the same limits, logs and
    /// timeouts as the built-in runtimes.
    /// </summary>
    /// <typeparam name="TRuntime">The runtime type, resolved from the container as a singleton.</typeparam>
    /// <param name="builder">The builder from <c>AddCrabLambda</c>.</param>
    /// <returns>The same builder.</returns>
    public static ICrabLambdaBuilder AddRuntime<TRuntime>(this ICrabLambdaBuilder builder)
        where TRuntime : class, IRuntime
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IRuntime, TRuntime>());
        return builder;
    }

    private sealed class CrabLambdaBuilder(IServiceCollection services) : ICrabLambdaBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}

/// <summary>
/// Returned by <c>AddCrabLambda</c>; extensions on it add a store and runtimes.
/// </summary>
public interface ICrabLambdaBuilder
{
    /// <summary>The service collection CrabLambda is registered in.</summary>
    IServiceCollection Services { get; }
}
