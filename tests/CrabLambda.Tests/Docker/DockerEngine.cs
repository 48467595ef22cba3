using CrabLambda.Docker;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace CrabLambda.Tests.Docker;

/// <summary>
/// Puts the tests that need a Docker engine in one collection, so that they share one <see cref="DockerEngine"/>
/// and do not load the engine all at once.
/// </summary>
[CollectionDefinition(Name)]
public sealed class DockerCollection : ICollectionFixture<DockerEngine>
{
    /// <summary>The collection name for <c>[Collection(DockerCollection.Name)]</c>.</summary>
    public const string Name = "Docker";
}

/// <summary>
/// The Docker engine at <c>DOCKER_HOST</c> (the local socket by default) with the runtime images that
/// <c>scripts/docker/build-runtime-images.sh</c> builds from this machine's own interpreters. When the engine cannot be
/// reached or an image is missing, every test that uses it fails with the reason; it never skips.
/// </summary>
public sealed class DockerEngine : IAsyncLifetime
{
    public const string PythonImage = "crablambda/python:local";
    public const string NodeImage = "crablambda/node:local";
    public const string BaseImage = "crablambda/base:local";

    private string? _problem;

    /// <summary>The engine's endpoint.</summary>
    public string Endpoint { get; } =
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host
            ? host
            : "unix:///var/run/docker.sock";

    /// <summary>A client of the engine, for checking what containers exist.</summary>
    public DockerClient Client { get; private set; } = null!;

    /// <summary>The server's variables for running its workers in the test images.</summary>
    public IReadOnlyDictionary<string, string?> ServerVariables => new Dictionary<string, string?>
    {
        ["EXECUTOR"] = "docker",
        ["DOCKER_HOST"] = Endpoint,
        ["DOCKER_IMAGE_PYTHON"] = PythonImage,
        ["DOCKER_IMAGE_NODE"] = NodeImage,
        ["DOCKER_IMAGE_RUST"] = BaseImage,
    };

    public async Task InitializeAsync()
    {
        Client = new DockerClientConfiguration(new Uri(Endpoint)).CreateClient();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await Client.System.PingAsync(timeout.Token);
            foreach (var image in new[] { PythonImage, NodeImage, BaseImage })
            {
                try
                {
                    await Client.Images.InspectImageAsync(image, timeout.Token);
                }
                catch (DockerImageNotFoundException)
                {
                    _problem = $"the image {image} is missing: build it with scripts/docker/build-runtime-images.sh";
                    return;
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException
            or OperationCanceledException or DockerApiException)
        {
            _problem = $"the Docker engine at {Endpoint} cannot be reached ({e.Message}): start one with "
                + "scripts/docker/start-dockerd.sh";
        }
    }

    /// <summary>Fails the calling test when the engine or an image is missing.</summary>
    public void Require() =>
        Assert.True(_problem is null, $"A Docker engine is required for this test, but {_problem}.");

    /// <summary>The containers labelled with <paramref name="owner"/>, running or not.</summary>
    public Task<IList<ContainerListResponse>> ContainersOfAsync(string owner) =>
        ContainersLabelledAsync(DockerWorkerLauncher.OwnerLabel, owner);

    /// <summary>The containers with the label <paramref name="name"/> set to <paramref name="value"/>.</summary>
    public async Task<IList<ContainerListResponse>> ContainersLabelledAsync(string name, string value) =>
        await Client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{name}={value}"] = true },
            },
        });

    public Task DisposeAsync()
    {
        Client?.Dispose();
        return Task.CompletedTask;
    }
}
