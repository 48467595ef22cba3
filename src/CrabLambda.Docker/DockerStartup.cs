using CrabLambda.Runtimes;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Docker;

/// <summary>
/// Connects to the engine when the host starts: an engine that cannot be reached stops start-up, containers an
/// earlier run of this server left behind are removed, and the image of each runtime is logged.
/// </summary>
internal sealed class DockerStartup(
    DockerWorkerLauncher launcher,
    IEnumerable<IRuntime> runtimes,
    IOptions<DockerExecutorOptions> options,
    IOptions<CrabLambdaOptions> crabLambda,
    ILogger<DockerStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var endpoint = options.Value.Endpoint;
        VersionResponse version;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.EngineTimeout);
            version = await launcher.Client.System.GetVersionAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException
            or TimeoutException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException(
                $"EXECUTOR=docker, but the Docker engine at {endpoint} (DOCKER_HOST) cannot be reached: {e.Message}",
                e);
        }

        DockerLog.EngineConnected(logger, endpoint, version.Version, version.APIVersion, launcher.Owner);

        var removed = await launcher.RemoveLeftoversAsync(cancellationToken).ConfigureAwait(false);
        if (removed > 0)
        {
            DockerLog.LeftoversRemoved(logger, removed);
        }

        DockerLog.ContainerLimits(logger, crabLambda.Value.MaxProcessesPerWorker);
        foreach (var runtime in runtimes)
        {
            if (options.Value.ImageFor(runtime.Name) is not { } image)
            {
                DockerLog.RuntimeWithoutImage(logger, runtime.Name);
                continue;
            }

            var presence = await IsPresentAsync(image, cancellationToken).ConfigureAwait(false)
                ? "present"
                : "not on the engine: pulled at first use";
            DockerLog.RuntimeImage(logger, runtime.Name, image, presence);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task<bool> IsPresentAsync(string image, CancellationToken cancellationToken)
    {
        try
        {
            await launcher.Client.Images.InspectImageAsync(image, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
    }
}
