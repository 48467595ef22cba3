namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// The compiler that builds functions: the real cargo and rustc binaries (never rustup's proxies, which need the
/// server's environment) and what they target.
/// </summary>
/// <param name="Cargo">The absolute path of cargo.</param>
/// <param name="Rustc">The absolute path of rustc.</param>
/// <param name="Sysroot">The toolchain's folder, the one holding <c>bin/</c> and <c>lib/rustlib/</c>.</param>
/// <param name="HostTarget">The target triple of this machine, for example <c>x86_64-unknown-linux-gnu</c>.</param>
/// <param name="Release">The rustc release, for example <c>1.85.0</c>.</param>
/// <param name="CrateRegistry">The local crate registry that dependencies are built from.</param>
/// <param name="Bubblewrap">The bubblewrap program that compiles run in, or <see langword="null"/> for none.</param>
/// <param name="Isolation">What isolation compiles get, in a sentence for the start-up log.</param>
internal sealed record RustToolchain(
    string Cargo,
    string Rustc,
    string Sysroot,
    string HostTarget,
    string Release,
    string CrateRegistry,
    string? Bubblewrap,
    string Isolation);
