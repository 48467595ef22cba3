namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// The bubblewrap sandbox that cargo runs in. Functions are compiled on the server, and compile-time macros such as
/// <c>include_str!</c> or a <c>#[path]</c> module read files; inside the sandbox only the system's programs and
/// libraries, the toolchain, the crates and the cache are there to read, and there is no network.
/// </summary>
internal static class RustCompileSandbox
{
    private static readonly string[] _topLevelLinks = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

    // What the C linker needs of /etc: cc is an alternatives link, and the loader cache speeds up every program.
    private static readonly string[] _etcPaths = ["/etc/alternatives", "/etc/ld.so.cache"];

    /// <summary>Finds the bubblewrap program, or returns <see langword="null"/> when it is not installed.</summary>
    public static string? FindBubblewrap() => (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Prepend("/bin")
        .Prepend("/usr/bin")
        .Where(Path.IsPathFullyQualified)
        .Select(folder => Path.Combine(folder, "bwrap"))
        .FirstOrDefault(File.Exists);

    /// <summary>
    /// The bubblewrap arguments, up to and including <c>--</c>, after which the command follows.
    /// </summary>
    /// <param name="sysroot">The toolchain's folder, shown read-only.</param>
    /// <param name="registry">The crate registry, shown read-only.</param>
    /// <param name="writableFolder">The cache, the only writable host folder; none for a trial run.</param>
    public static IReadOnlyList<string> Arguments(string sysroot, string registry, string? writableFolder)
    {
        var args = new List<string>
        {
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--ro-bind", "/usr", "/usr",
            "--proc", "/proc",
            "--dev", "/dev",

            // Before the binds: a cache under /tmp must stay visible through it.
            "--tmpfs", "/tmp",
        };

        foreach (var link in _topLevelLinks)
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

        foreach (var path in _etcPaths)
        {
            args.AddRange(["--ro-bind-try", path, path]);
        }

        foreach (var folder in new[] { sysroot, registry }.Where(f => !IsUnder(f, "/usr")).Distinct())
        {
            args.AddRange(["--ro-bind", folder, folder]);
        }

        if (writableFolder is not null)
        {
            args.AddRange(["--bind", writableFolder, writableFolder]);
        }

        args.AddRange(["--chdir", "/", "--"]);
        return args;
    }

    private static bool IsUnder(string path, string folder) =>
        path == folder || path.StartsWith(folder + "/", StringComparison.Ordinal);
}
