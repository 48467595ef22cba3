namespace CrabLambda.Docker;

/// <summary>
/// Where the Docker engine is and which image each runtime's workers run in.
/// </summary>
public sealed class DockerExecutorOptions
{
    /// <summary>The engine's endpoint, as in <c>DOCKER_HOST</c>. Default <c>unix:///var/run/docker.sock</c>.</summary>
    public string Endpoint { get; set; } = "unix:///var/run/docker.sock";

    /// <summary>
    /// Images by runtime name (<c>python</c>, <c>node</c>, <c>rust</c> or a plug-in runtime's name), in place of
    /// <see cref="DefaultImages"/>. A runtime with neither cannot run in containers.
    /// </summary>
    public IDictionary<string, string> Images { get; } =
        new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The images used when <see cref="Images"/> names none: the languages' official slim images, and for Rust, whose
    /// workers are static binaries built by the server, a slim Debian.
    /// </summary>
    public static IReadOnlyDictionary<string, string> DefaultImages { get; } =
        new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["python"] = "python:3.12-slim",
            ["node"] = "node:22-slim",
            ["rust"] = "debian:bookworm-slim",
        };

    /// <summary>
    /// A name for this server's containers, put in their <c>crablambda.owner</c> label. At start-up the containers
    /// with this owner that an earlier run left behind are removed, so servers sharing an engine must use different
    /// owners. Default: derived from the host name, the working directory and the work directory, the same for a
    /// server restarted where it ran and different for two servers on one host.
    /// </summary>
    public string? Owner { get; set; }

    /// <summary>How long a call to the engine (create, start, remove) may take. Default 60 s.</summary>
    public TimeSpan EngineTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The image for a runtime, or <see langword="null"/> when none is set.</summary>
    /// <param name="runtime">The runtime's name.</param>
    public string? ImageFor(string runtime) =>
        Images.TryGetValue(runtime, out var image) ? image
        : DefaultImages.TryGetValue(runtime, out var fallback) ? fallback
        : null;
}
