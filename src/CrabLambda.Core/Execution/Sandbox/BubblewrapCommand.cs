using System.Globalization;
using CrabLambda.Runtimes;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// Builds the command line that starts a worker inside a bubblewrap sandbox: new user, PID, mount, IPC, UTS and
/// (unless allowed) network namespaces; a read-only view of <c>/usr</c>, the runtime's own paths and the function's
/// code; a private size-limited <c>/tmp</c>; an unprivileged user; and, first of all, membership of the worker's
/// control group, so that every process it ever starts is inside its limits.
/// </summary>
internal sealed class BubblewrapCommand(SandboxTools tools, int userId, int groupId)
{
    // Files of /etc that programs commonly need and that tell nothing about the server.
    private static readonly string[] EtcFiles =
    [
        "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates",
    ];

    private static readonly string[] NetworkEtcFiles =
    [
        "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf",
    ];

    /// <summary>Where the function's code appears inside the sandbox.</summary>
    public const string CodeFolder = "/var/task";

    /// <summary>Where the runtime's own folders outside /usr appear inside the sandbox.</summary>
    public const string RuntimeFolder = "/opt/crablambda";

    /// <summary>Where the worker's socket appears inside the sandbox.</summary>
    public const string SocketPath = "/run/crablambda/worker.sock";

    private static readonly string[] TopLevelLinks = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

    /// <summary>Returns the program and arguments to start.</summary>
    /// <param name="launch">The runtime's worker program.</param>
    /// <remarks>
    /// Everything bound in must be readable by the sandbox user: the code folder and its files, the runtime's paths
    /// and the socket (writable). Folders above them may stay private when the server runs as root.
    /// </remarks>
    /// <param name="codeDirectory">
    /// The version's code folder, made visible read-only at <see cref="CodeFolder"/>.
    /// </param>
    /// <param name="socketPath">The worker's socket, made visible at <see cref="SocketPath"/>.</param>
    /// <param name="network">Whether the worker keeps the host's network.</param>
    /// <param name="tmpBytes">The size of the private <c>/tmp</c>.</param>
    /// <param name="group">The control group to join, if any.</param>
    public IReadOnlyList<string> Build(
        WorkerLaunch launch,
        string codeDirectory,
        string socketPath,
        bool network,
        long tmpBytes,
        CgroupGroup? group)
    {
        var args = new List<string>();
        if (group is not null)
        {
            // The shell joins the group and then becomes the sandbox, so nothing runs outside the group.
            args.AddRange([tools.Shell, "-c", JoinScript(group.ProcsFiles), "crablambda-join"]);
        }

        args.Add(tools.Bubblewrap);
        if (tools.Setpriv is null)
        {
            // An ordinary user: bubblewrap makes a user namespace and the worker keeps the server's own user.
            args.AddRange(["--unshare-all", "--unshare-user", "--disable-userns"]);
            if (network)
            {
                args.Add("--share-net");
            }
        }
        else
        {
            // Root: bubblewrap needs no user namespace to make the others, and reads the bound folders as root, so
            // the server's folders need not be open to anyone; setpriv then drops to the sandbox user inside.
            args.AddRange(["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]);
            if (!network)
            {
                args.Add("--unshare-net");
            }
        }

        args.AddRange(
        [
            "--die-with-parent",
            "--new-session",
            "--hostname", "crablambda",
            "--ro-bind", "/usr", "/usr",
        ]);

        foreach (var link in TopLevelLinks)
        {
            var info = new FileInfo(link);
            if (info.LinkTarget is { } target)
            {
                args.AddRange(["--symlink", target, link]);
            }
            else if (Directory.Exists(link))
            {
                args.AddRange(["--ro-bind", link, link]);
            }
        }

        // Folders bubblewrap makes on its own are private to root; the sandbox user must be able to enter them.
        foreach (var folder in (string[])["/etc", "/opt", RuntimeFolder, "/var", "/run", "/run/crablambda"])
        {
            args.AddRange(["--perms", "0755", "--dir", folder]);
        }

        foreach (var file in network ? EtcFiles.Concat(NetworkEtcFiles) : EtcFiles)
        {
            args.AddRange(["--ro-bind-try", file, file]);
        }

        // Host folders other than /usr appear at fixed places inside, so no host path (and nothing under the
        // host's /tmp) shows through; the worker's arguments are rewritten to match.
        var mappings = new List<(string Host, string Inside)> { (codeDirectory, CodeFolder) };
        var index = 0;
        foreach (var path in launch.ReadOnlyPaths.Distinct(StringComparer.Ordinal))
        {
            if (!IsUnder(path, "/usr"))
            {
                mappings.Add((path, RuntimeFolder + "/" + index.ToString(CultureInfo.InvariantCulture)));
                index++;
            }
        }

        foreach (var (host, inside) in mappings)
        {
            args.AddRange(["--ro-bind", host, inside]);
        }

        args.AddRange(
        [
            "--bind", socketPath, SocketPath,
            "--proc", "/proc",
            "--dev", "/dev",
            "--perms", "1777", "--size", tmpBytes.ToString(CultureInfo.InvariantCulture), "--tmpfs", "/tmp",
            "--remount-ro", "/",
            "--chdir", "/tmp",
            "--setenv", "HOME", "/tmp",
            "--setenv", "TMPDIR", "/tmp",
            "--setenv", WorkerProtocol.SocketVariable, SocketPath,
            "--",
        ]);
        if (tools.Setpriv is not null)
        {
            args.AddRange(
            [
                tools.Setpriv,
                "--reuid=" + userId.ToString(CultureInfo.InvariantCulture),
                "--regid=" + groupId.ToString(CultureInfo.InvariantCulture),
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]);
        }

        args.Add(MapPath(launch.Executable, mappings));
        args.AddRange(launch.Arguments.Select(a => MapPath(a, mappings)));
        return args;
    }

    private static string MapPath(string value, List<(string Host, string Inside)> mappings)
    {
        foreach (var (host, inside) in mappings)
        {
            if (IsUnder(value, host))
            {
                return inside + value[host.Length..];
            }
        }

        return value;
    }

    private static string JoinScript(IReadOnlyList<string> procsFiles)
    {
        var files = string.Join(' ', procsFiles.Select(Quote));
        return $"for f in {files}; do echo $$ > \"$f\" || exit 125; done; exec \"$@\"";
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''") + "'";

    private static bool IsUnder(string path, string folder) =>
        path == folder || path.StartsWith(folder + "/", StringComparison.Ordinal);
}

/// <summary>
/// The programs a sandboxed worker is started through.
/// </summary>
/// <param name="Bubblewrap">The <c>bwrap</c> binary.</param>
/// <param name="Setpriv">
/// The <c>setpriv</c> binary that drops to the sandbox user, when the server runs as root; <see langword="null"/>
/// when it runs as an ordinary user already.
/// </param>
/// <param name="Shell">A POSIX shell, used to join the control group.</param>
internal sealed record SandboxTools(string Bubblewrap, string? Setpriv, string Shell);
