using CrabLambda;
using CrabLambda.Docker;
using CrabLambda.Execution.Process;
using CrabLambda.Execution.Sandbox;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Runs CrabLambda's workers in Docker containers.
/// </summary>
public static class DockerCrabLambdaBuilderExtensions
{
    /// <summary>
    /// Starts every worker as a container of its runtime's image instead of a local process. Pooling, keep-alive,
    /// timeouts, logs and statuses stay as they are. The engine must be on the same host, since the code and each
    /// worker's socket are bind-mounted into its container; start-up fails when it cannot be reached.
    /// </summary>
    /// <param name="builder">The builder from <c>AddCrabLambda</c>.</param>
    /// <param name="configure">The engine's endpoint and the images; the defaults suit a local engine.</param>
    /// <returns>The same builder.</returns>
    public static ICrabLambdaBuilder AddDocker(
        this ICrabLambdaBuilder builder,
        Action<DockerExecutorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        var services = builder.Services;
        var options = services.AddOptions<DockerExecutorOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.PostConfigure<CrabLambdaOptions>(o => o.WorkersRunInContainers = true);
        services.TryAddSingleton<DockerWorkerLauncher>();
        services.RemoveAll<IWorkerLauncher>();
        services.AddSingleton<IWorkerLauncher>(sp => sp.GetRequiredService<DockerWorkerLauncher>());

        // The process sandbox's start-up report would describe isolation that containers replace.
        var isolationReport = services.FirstOrDefault(d =>
            d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(IsolationStartup));
        if (isolationReport is not null)
        {
            services.Remove(isolationReport);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DockerStartup>());
        return builder;
    }
}
