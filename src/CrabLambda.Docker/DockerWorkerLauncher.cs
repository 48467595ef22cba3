using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using CrabLambda.Execution.Process;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Docker;

/// <summary>
/// Starts each worker as a container of its runtime's image. The executor's pooling, protocol and accounting stay as
/// they are: only the process is a container.
/// </summary>
internal sealed class DockerWorkerLauncher : IWorkerLauncher, IDisposable
{
    /// <summary>The label every container of CrabLambda's carries, with the owner as its value.</summary>
    public const string OwnerLabel = "crablambda.owner";

    private const long Mb = 1024 * 1024;
    private const string SandboxUser = "65534:65534";
    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead
        | UnixFileMode.OtherRead;
    private const UnixFileMode Enterable = Readable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute
        | UnixFileMode.OtherExecute;

    private readonly DockerExecutorOptions _options;
    private readonly CrabLambdaOptions _crabLambda;
    private readonly ILogger _logger;
    private readonly string _workDirectory;
    private readonly ConcurrentDictionary<string, Lazy<Task>> _images = new(StringComparer.Ordinal);

    public DockerWorkerLauncher(
        IOptions<DockerExecutorOptions> options,
        IOptions<CrabLambdaOptions> crabLambda,
        ILogger<DockerWorkerLauncher> logger)
    {
        _options = options.Value;
        _crabLambda = crabLambda.Value;
        _logger = logger;
        _workDirectory = WorkDirectory.Resolve(_crabLambda);
        Owner = _options.Owner ?? DefaultOwner(_workDirectory);
        Client = new DockerClientConfiguration(ParseEndpoint(_options.Endpoint), defaultTimeout: _options.EngineTimeout)
            .CreateClient();
    }

    /// <summary>The client of the engine, shared by every container.</summary>
    public DockerClient Client { get; }

    /// <summary>The value of <see cref="OwnerLabel"/> on this server's containers.</summary>
    public string Owner { get; }

    public async Task<IWorkerProcess> StartAsync(WorkerStartInfo startInfo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(startInfo);

        var version = startInfo.Version;
        var image = _options.ImageFor(version.Runtime) ?? throw new WorkerStartException(
            $"No Docker image is set for the runtime '{version.Runtime}': set one "
            + $"(DOCKER_IMAGE_{version.Runtime.ToUpperInvariant()} on the server).");
        await EnsureImageAsync(image, version.Runtime, cancellationToken).ConfigureAwait(false);

        var layout = ContainerLayout.For(startInfo);
        OpenToContainerUser(startInfo, layout, _workDirectory);

        CreateContainerResponse created;
        try
        {
            var parameters = Describe(startInfo, layout, image);
            created = await Client.Containers.CreateContainerAsync(parameters, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerImageNotFoundException e)
        {
            _images.TryRemove(image, out _);
            throw new WorkerStartException(MissingImage(image, version.Runtime, e.Message), e);
        }
        catch (DockerApiException e)
        {
            throw new WorkerStartException(
                $"The Docker engine refused to create the worker's container: {e.Message}",
                e);
        }

        try
        {
            // Attached before the start, so not a byte of the worker's output is missed.
            var attach = new ContainerAttachParameters { Stream = true, Stdout = true, Stderr = true };
            var attached = await Client.Containers.AttachContainerAsync(created.ID, false, attach, cancellationToken)
                .ConfigureAwait(false);
            try
            {
                var start = new ContainerStartParameters();
                await Client.Containers.StartContainerAsync(created.ID, start, cancellationToken).ConfigureAwait(false);
                var inspected = await Client.Containers.InspectContainerAsync(created.ID, cancellationToken)
                    .ConfigureAwait(false);
                var pid = (int)inspected.State.Pid;
                var cgroup = pid > 0 ? ContainerCgroup.Find(pid) : null;
                DockerLog.ContainerStarted(_logger, created.ID, image, version.FunctionId, version.Version);
                return new DockerWorkerProcess(
                    Client,
                    created.ID,
                    pid,
                    attached,
                    cgroup,
                    _options.EngineTimeout,
                    _logger);
            }
            catch
            {
                attached.Dispose();
                throw;
            }
        }
        catch (Exception e)
        {
            await RemoveQuietlyAsync(created.ID).ConfigureAwait(false);
            if (e is DockerApiException api)
            {
                throw new WorkerStartException($"The worker's container did not start: {api.Message}", e);
            }

            throw;
        }
    }

    /// <summary>Removes every container of this owner, running or not; returns how many there were.</summary>
    public async Task<int> RemoveLeftoversAsync(CancellationToken cancellationToken)
    {
        var list = new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{OwnerLabel}={Owner}"] = true },
            },
        };
        var leftovers = await Client.Containers.ListContainersAsync(list, cancellationToken).ConfigureAwait(false);
        foreach (var container in leftovers)
        {
            await RemoveQuietlyAsync(container.ID).ConfigureAwait(false);
        }

        return leftovers.Count;
    }

    /// <summary>
    /// The CPU share of a container: one CPU per 1024 MB of memory, the way AWS Lambda grows it, but never below half a
    /// CPU so that interpreters start quickly, and never more than the host has. The process sandbox does the same.
    /// </summary>
    internal static long NanoCpusFor(int memoryMb) =>
        (long)(Math.Clamp(memoryMb / 1024.0, 0.5, Environment.ProcessorCount) * 1_000_000_000);

    public void Dispose() => Client.Dispose();

    private CreateContainerParameters Describe(WorkerStartInfo startInfo, ContainerLayout layout, string image)
    {
        var version = startInfo.Version;
        var memory = version.MemoryMb * Mb;
        return new CreateContainerParameters
        {
            Image = image,
            Cmd = [.. layout.Command],
            Env = [.. layout.Environment],
            WorkingDir = ContainerLayout.CodePath,
            User = SandboxUser,
            AttachStdout = true,
            AttachStderr = true,
            Labels = new Dictionary<string, string>
            {
                [OwnerLabel] = Owner,
                ["crablambda.function"] = version.FunctionId.ToString(),
                ["crablambda.version"] = version.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            HostConfig = new HostConfig
            {
                Memory = memory,
                MemorySwap = memory,
                NanoCPUs = NanoCpusFor(version.MemoryMb),
                PidsLimit = _crabLambda.MaxProcessesPerWorker,
                NetworkMode = version.Network ? "bridge" : "none",
                ReadonlyRootfs = true,
                Tmpfs = new Dictionary<string, string>
                {
                    [ContainerLayout.TemporaryPath] = $"rw,nosuid,nodev,size={version.MemoryMb}m,mode=1777",
                },
                CapDrop = ["ALL"],
                SecurityOpt = ["no-new-privileges"],

                // A small init as the first process reaps orphans and passes the worker's exit code on.
                Init = true,

                // The executor reads the output live; a second copy in the engine's log files would only fill its disk.
                LogConfig = new LogConfig { Type = "none" },
                Mounts = [.. layout.Mounts.Select(m => new Mount
                {
                    Type = "bind",
                    Source = m.Source,
                    Target = m.Target,
                    ReadOnly = m.ReadOnly,
                })],
            },
        };
    }

    private Task EnsureImageAsync(string image, string runtime, CancellationToken cancellationToken)
    {
        var check = _images.GetOrAdd(image, i => new Lazy<Task>(() => InspectOrPullAsync(i, runtime)));
        return check.Value.IsFaulted
            ? Retry(image, runtime, check)
            : check.Value.WaitAsync(cancellationToken);

        Task Retry(string name, string forRuntime, Lazy<Task> failed)
        {
            _images.TryRemove(new KeyValuePair<string, Lazy<Task>>(name, failed));
            return EnsureImageAsync(name, forRuntime, cancellationToken);
        }
    }

    private async Task InspectOrPullAsync(string image, string runtime)
    {
        try
        {
            await Client.Images.InspectImageAsync(image).ConfigureAwait(false);
            return;
        }
        catch (DockerImageNotFoundException)
        {
            // Pulled below, as `docker run` would.
        }

        try
        {
            var (name, tag) = SplitTag(image);
            await Client.Images.CreateImageAsync(
                new ImagesCreateParameters { FromImage = name, Tag = tag },
                authConfig: null,
                new Progress<JSONMessage>()).ConfigureAwait(false);
            await Client.Images.InspectImageAsync(image).ConfigureAwait(false);
            DockerLog.ImagePulled(_logger, image, runtime);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException)
        {
            throw new WorkerStartException(MissingImage(image, runtime, e.Message), e);
        }
    }

    private static string MissingImage(string image, string runtime, string reason) =>
        $"The Docker image '{image}' of the {runtime} runtime is not on the engine and could not be pulled "
        + $"({reason.Trim()}). Pull or build it there, or set another image "
        + $"(DOCKER_IMAGE_{runtime.ToUpperInvariant()} on the server).";

    private static (string Name, string Tag) SplitTag(string image)
    {
        var slash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        return colon > slash ? (image[..colon], image[(colon + 1)..]) : (image, "latest");
    }

    private async Task RemoveQuietlyAsync(string containerId)
    {
        using var timeout = new CancellationTokenSource(_options.EngineTimeout);
        try
        {
            var remove = new ContainerRemoveParameters { Force = true };
            await Client.Containers.RemoveContainerAsync(containerId, remove, timeout.Token).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            // Gone already.
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException
            or OperationCanceledException)
        {
            DockerLog.ContainerRemoveFailed(_logger, containerId, e);
        }
    }

    // The container runs as nobody: it must be able to read the code and the mounted files and to connect to the
    // socket. The folders above them stay private, since a bind mount does not need them. Only what the executor and
    // the runtimes wrote into the work directory is touched; other host files are mounted as they are.
    private static void OpenToContainerUser(WorkerStartInfo startInfo, ContainerLayout layout, string workDirectory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        File.SetUnixFileMode(startInfo.CodeDirectory, Enterable);
        foreach (var entry in Everything(startInfo.CodeDirectory))
        {
            OpenEntry(entry);
        }

        foreach (var mount in layout.Mounts.Skip(2))
        {
            if (!mount.Source.StartsWith(workDirectory + "/", StringComparison.Ordinal))
            {
                continue;
            }

            OpenEntry(mount.Source);
            if (Directory.Exists(mount.Source))
            {
                foreach (var entry in Everything(mount.Source))
                {
                    OpenEntry(entry);
                }
            }
        }

        var socket = startInfo.Environment[Runtimes.WorkerProtocol.SocketVariable];
        File.SetUnixFileMode(socket, Enterable | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);
    }

    private static IEnumerable<string> Everything(string folder) =>
        Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories);

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void OpenEntry(string entry)
    {
        var mode = File.GetUnixFileMode(entry);
        var executable = Directory.Exists(entry) || (mode & UnixFileMode.UserExecute) != 0;
        var wanted = mode | (executable ? Enterable : Readable);
        if (wanted != mode)
        {
            File.SetUnixFileMode(entry, wanted);
        }
    }

    private static Uri ParseEndpoint(string endpoint)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("unix" or "tcp" or "http"))
        {
            throw new ArgumentException(
                $"The Docker endpoint '{endpoint}' is not a unix:///path or tcp://host:port address.",
                nameof(endpoint));
        }

        return uri;
    }

    // The same server restarted has the same host, folder and work directory; two servers on one host differ in one.
    private static string DefaultOwner(string workDirectory)
    {
        var identity = $"{Environment.MachineName}\n{Environment.CurrentDirectory}\n{workDirectory}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..16];
    }
}
