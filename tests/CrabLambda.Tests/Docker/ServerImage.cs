namespace CrabLambda.Tests.Docker;

/// <summary>
/// The server image built once from the repository's <c>Dockerfile</c> for the tests that run it, and removed after
/// them. With no registry the build uses the stand-ins for the official .NET images that
/// <c>scripts/docker/build-server-base-images.sh</c> makes from this machine's own .NET, python3 and node. A failed
/// build fails every test that asks for the image, with the build's output.
/// </summary>
public sealed class ServerImage : IAsyncLifetime
{
    private const string SdkBase = "crablambda/dotnet-sdk:local";
    private const string RuntimeBase = "crablambda/aspnet:local";
    private static readonly TimeSpan s_buildTimeout = TimeSpan.FromMinutes(15);

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..12];
    private readonly Lazy<Task<string>> _build;

    public ServerImage() => _build = new Lazy<Task<string>>(BuildAsync);

    /// <summary>The image's tag.</summary>
    public string Name => $"crablambda/server-test:{_suffix}";

    // The build stage gets a tag of its own, so that removing it at the end leaves no untagged image behind.
    private string BuildStage => $"{Name}-build";

    /// <summary>Builds the image at the first call; returns its tag.</summary>
    public Task<string> GetAsync() => _build.Value;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_build.IsValueCreated)
        {
            await Commands.RunQuietlyAsync("docker", ["rmi", Name, BuildStage]);
        }
    }

    private async Task<string> BuildAsync()
    {
        string[] bases = ["--build-arg", $"SDK_IMAGE={SdkBase}", "--build-arg", $"RUNTIME_IMAGE={RuntimeBase}"];

        await Commands.RunAsync("bash", ["scripts/docker/build-server-base-images.sh"], s_buildTimeout);
        await Commands.RunAsync(
            "docker",
            ["build", .. bases, "--target", "build", "-t", BuildStage, "."],
            s_buildTimeout);
        await Commands.RunAsync("docker", ["build", .. bases, "-t", Name, "."], s_buildTimeout);
        return Name;
    }
}
