using CrabLambda.Execution.Process;
using CrabLambda.Runtimes;

namespace CrabLambda.Docker;

/// <summary>
/// How a worker's launch looks inside a container: the command with host paths rewritten, the environment, and the
/// host files mounted to make those paths real.
/// </summary>
/// <param name="Command">The program and its arguments as the container runs them.</param>
/// <param name="Environment">The worker's variables as <c>NAME=value</c>; the image's <c>PATH</c> stays.</param>
/// <param name="Mounts">Host paths and where they appear in the container, all read-only but the socket.</param>
internal sealed record ContainerLayout(
    IReadOnlyList<string> Command,
    IReadOnlyList<string> Environment,
    IReadOnlyList<ContainerMount> Mounts)
{
    /// <summary>Where the version's code folder appears, as on AWS Lambda; also the working directory.</summary>
    public const string CodePath = "/var/task";

    /// <summary>Where the worker's socket appears.</summary>
    public const string SocketPath = "/run/crablambda/worker.sock";

    /// <summary>Under which folder the other host files a launch names appear, one numbered folder each.</summary>
    public const string FilesPath = "/opt/crablambda";

    /// <summary>The worker's home and temporary folder: the container's private, size-limited <c>/tmp</c>.</summary>
    public const string TemporaryPath = "/tmp";

    /// <summary>Rewrites a worker's start for a container.</summary>
    /// <param name="startInfo">The start as the executor asked for it on the host.</param>
    public static ContainerLayout For(WorkerStartInfo startInfo)
    {
        ArgumentNullException.ThrowIfNull(startInfo);

        var mapper = new PathMapper(startInfo.CodeDirectory);
        var launch = startInfo.Launch;

        var command = new List<string> { launch.ContainerExecutable ?? mapper.Map(launch.Executable) };
        command.AddRange(launch.Arguments.Select(mapper.Map));

        var environment = new List<string>
        {
            $"HOME={TemporaryPath}",
            $"TMPDIR={TemporaryPath}",
            $"{WorkerProtocol.SocketVariable}={SocketPath}",
        };
        foreach (var (name, value) in startInfo.Environment)
        {
            // The host's PATH names host folders: the image's own PATH is the one that finds its interpreter.
            if (name is "PATH" or "HOME" or "TMPDIR" || name == WorkerProtocol.SocketVariable)
            {
                continue;
            }

            environment.Add($"{name}={mapper.Map(value)}");
        }

        var socket = startInfo.Environment[WorkerProtocol.SocketVariable];
        var mounts = new List<ContainerMount>
        {
            new(startInfo.CodeDirectory, CodePath, ReadOnly: true),
            new(socket, SocketPath, ReadOnly: false),
        };
        mounts.AddRange(mapper.Files);
        return new ContainerLayout(command, environment, mounts);
    }

    private sealed class PathMapper(string codeDirectory)
    {
        private readonly string _codeDirectory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(codeDirectory));
        private readonly Dictionary<string, string> _mapped = new(StringComparer.Ordinal);

        public List<ContainerMount> Files { get; } = [];

        /// <summary>A host path that exists becomes its place in the container; anything else stays.</summary>
        public string Map(string value)
        {
            if (!Path.IsPathRooted(value) || !(File.Exists(value) || Directory.Exists(value)))
            {
                return value;
            }

            var full = Path.GetFullPath(value);
            if (full == _codeDirectory)
            {
                return CodePath;
            }

            if (full.StartsWith(_codeDirectory + "/", StringComparison.Ordinal))
            {
                return CodePath + full[_codeDirectory.Length..];
            }

            if (!_mapped.TryGetValue(full, out var target))
            {
                var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(full));
                target = $"{FilesPath}/{Files.Count + 1}/{(name.Length > 0 ? name : "root")}";
                _mapped[full] = target;
                Files.Add(new ContainerMount(full, target, ReadOnly: true));
            }

            return target;
        }
    }
}

/// <summary>A host path bound into a container.</summary>
/// <param name="Source">The path on the host.</param>
/// <param name="Target">The path in the container.</param>
/// <param name="ReadOnly">Whether the container may only read it.</param>
internal sealed record ContainerMount(string Source, string Target, bool ReadOnly);
