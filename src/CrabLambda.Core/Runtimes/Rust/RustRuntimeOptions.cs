using CrabLambda.Execution.Sandbox;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Settings of the Rust runtime, which compiles each function version into a worker program at deploy time.
/// </summary>
public sealed class RustRuntimeOptions
{
    /// <summary>
    /// Where compiled functions, the shared cargo build folders and cargo's private home are kept. Default:
    /// <c>crablambda-rust</c> under the system's temporary directory. Deleting it is safe: versions are rebuilt on
    /// their next start.
    /// </summary>
    public string? CacheDirectory { get; set; }

    /// <summary>
    /// How long one compile may take before it is stopped and the deploy refused. Default 120 seconds, which covers
    /// the first compile after start-up, when the crates are built too.
    /// </summary>
    public TimeSpan CompileTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// How many compiles run at once. Each has a cargo build folder of its own, because cargo locks a build folder
    /// for a whole build, and each folder pays for building the crates once. Default 1.
    /// </summary>
    public int MaxConcurrentCompiles { get; set; } = 1;

    /// <summary>
    /// The Rust toolchain to compile with: a directory with <c>bin/cargo</c> and <c>bin/rustc</c>, such as a rustup
    /// toolchain folder or <c>/usr</c>. Default: the toolchain of the first <c>rustc</c> on the server's
    /// <c>PATH</c> (or in <c>~/.cargo/bin</c>), as <c>rustc --print sysroot</c> names it.
    /// </summary>
    public string? ToolchainDirectory { get; set; }

    /// <summary>
    /// The local crate registry that <c>serde_json</c> and <c>serde</c> are built from, offline: a cargo directory
    /// source such as the one Debian's <c>librust-*-dev</c> packages fill. Default <c>/usr/share/cargo/registry</c>.
    /// </summary>
    public string CrateRegistryDirectory { get; set; } = "/usr/share/cargo/registry";

    /// <summary>
    /// Whether cargo runs in a bubblewrap sandbox that shows it only the system's programs and libraries, the
    /// toolchain, the crates and the cache, without network. Without it, compile-time macros such as
    /// <c>include_str!</c> can read any file the server can. <see cref="IsolationMode.Auto"/> (the default) sandboxes
    /// when bubblewrap works on this host, <see cref="IsolationMode.Sandbox"/> refuses to compile without it.
    /// </summary>
    public IsolationMode CompileIsolation { get; set; } = IsolationMode.Auto;

    /// <summary>
    /// Whether to build the crates in the background at start-up, so that the first deploy compiles in seconds.
    /// Default true.
    /// </summary>
    public bool WarmUpOnStart { get; set; } = true;
}
