using System.Diagnostics;
using CrabLambda.Execution.Sandbox;
using Microsoft.Extensions.Options;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Finds the Rust toolchain and the local crate registry once, and says precisely what is missing when they are not
/// there.
/// </summary>
internal sealed class RustToolchainLocator(IOptions<RustRuntimeOptions> options, TimeProvider timeProvider)
{
    /// <summary>The crates every function is built against; the registry must hold each of them.</summary>
    private static readonly string[] _requiredCrates = ["serde_json", "serde", "serde_derive", "indexmap"];

    private const string InstallHint =
        "Install the toolchain and the crates with 'apt-get install -y cargo rustc librust-serde-json-dev " +
        "librust-serde+serde-derive-dev', or point RustRuntimeOptions at them.";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private RustToolchain? _found;

    /// <summary>
    /// Returns the toolchain, looking for it on first use. A failed look-up is not remembered, so installing the
    /// toolchain while the server runs is enough.
    /// </summary>
    /// <exception cref="RuntimeUnavailableException">No toolchain, or a registry without the crates.</exception>
    /// <exception cref="InvalidOperationException">A toolchain that does not work.</exception>
    public async Task<RustToolchain> GetAsync(CancellationToken cancellationToken)
    {
        if (_found is { } found)
        {
            return found;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _found ??= await LocateAsync(options.Value, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<RustToolchain> LocateAsync(RustRuntimeOptions settings, CancellationToken cancellationToken)
    {
        var sysroot = settings.ToolchainDirectory ?? await FindSysrootAsync(cancellationToken).ConfigureAwait(false);
        var cargo = Path.Combine(sysroot, "bin", "cargo");
        var rustc = Path.Combine(sysroot, "bin", "rustc");
        if (!File.Exists(cargo) || !File.Exists(rustc))
        {
            throw new RuntimeUnavailableException(
                $"The Rust toolchain in '{sysroot}' has no bin/cargo and bin/rustc. {InstallHint}");
        }

        var version = await RunAsync(rustc, ["-vV"], inheritEnvironment: false, cancellationToken)
            .ConfigureAwait(false);
        var host = ReadField(version, "host:");
        var release = ReadField(version, "release:");
        if (host is null || release is null)
        {
            throw new InvalidOperationException($"'{rustc} -vV' did not name its host target: {version.Trim()}");
        }

        var registry = settings.CrateRegistryDirectory;
        CheckRegistry(registry);

        var (bubblewrap, isolation) = await ResolveSandboxAsync(
            settings.CompileIsolation,
            sysroot,
            registry,
            rustc,
            cancellationToken).ConfigureAwait(false);
        return new RustToolchain(cargo, rustc, sysroot, host, release, registry, bubblewrap, isolation);
    }

    /// <summary>
    /// Decides whether compiles run in bubblewrap, after a trial run of the compiler inside it: user namespaces
    /// can be disabled on a host where bubblewrap is installed.
    /// </summary>
    private async Task<(string? Bubblewrap, string Isolation)> ResolveSandboxAsync(
        IsolationMode mode,
        string sysroot,
        string registry,
        string rustc,
        CancellationToken cancellationToken)
    {
        if (mode == IsolationMode.None)
        {
            return (null, "compiles are not sandboxed (CompileIsolation is None)");
        }

        var bubblewrap = RustCompileSandbox.FindBubblewrap();
        var problem = "bubblewrap is not installed";
        if (bubblewrap is not null)
        {
            try
            {
                var trial = RustCompileSandbox.Arguments(sysroot, registry, writableFolder: null)
                    .Append(rustc)
                    .Append("-vV");
                await RunAsync(bubblewrap, trial, inheritEnvironment: false, cancellationToken).ConfigureAwait(false);
                return (bubblewrap, "compiles run in a bubblewrap sandbox without network or the server's files");
            }
            catch (InvalidOperationException exception)
            {
                problem = "a trial sandbox failed: " + exception.Message;
            }
        }

        if (mode == IsolationMode.Sandbox)
        {
            throw new InvalidOperationException(
                $"Rust compiles must be sandboxed (CompileIsolation is Sandbox), but {problem}. Install bubblewrap " +
                "(apt-get install -y bubblewrap) on a host that allows user namespaces.");
        }

        return (null, $"compiles are not sandboxed ({problem}): compile-time macros such as include_str! can " +
            "read any file the server can read");
    }

    /// <summary>
    /// Asks the first rustc found where its toolchain lives. This one call runs with the server's environment,
    /// because a rustup proxy finds its toolchains through it; compiles never do.
    /// </summary>
    private async Task<string> FindSysrootAsync(CancellationToken cancellationToken)
    {
        var rustc = FindOnPath("rustc");
        if (rustc is null)
        {
            throw new RuntimeUnavailableException(
                $"No rustc was found on PATH or in ~/.cargo/bin, so Rust functions cannot be compiled. {InstallHint}");
        }

        var sysroot = (await RunAsync(rustc, ["--print", "sysroot"], inheritEnvironment: true, cancellationToken)
            .ConfigureAwait(false)).Trim();
        if (!Path.IsPathFullyQualified(sysroot))
        {
            throw new InvalidOperationException($"'{rustc} --print sysroot' answered '{sysroot}', not a folder.");
        }

        return sysroot;
    }

    private static string? FindOnPath(string program)
    {
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cargo", "bin"));

        return folders
            .Where(Path.IsPathFullyQualified)
            .Select(folder => Path.Combine(folder, program))
            .FirstOrDefault(File.Exists);
    }

    private static void CheckRegistry(string registry)
    {
        var missing = _requiredCrates.Where(crate => !HasCrate(registry, crate)).ToList();

        if (missing.Count > 0)
        {
            throw new RuntimeUnavailableException(
                $"The crate registry '{registry}' lacks {string.Join(", ", missing)}; Rust functions are built " +
                $"offline against it. {InstallHint}");
        }
    }

    /// <summary>Whether the registry holds a version of the crate, in a folder like <c>serde-1.0.152</c>.</summary>
    private static bool HasCrate(string registry, string crate) => Directory.Exists(registry) && Directory
        .EnumerateDirectories(registry, crate + "-*")
        .Select(folder => Path.GetFileName(folder))
        .Any(name => name.Length > crate.Length + 1 && char.IsAsciiDigit(name[crate.Length + 1]));

    private static string? ReadField(string text, string name) => text
        .Split('\n')
        .Where(line => line.StartsWith(name, StringComparison.Ordinal))
        .Select(line => line[name.Length..].Trim())
        .FirstOrDefault();

    private async Task<string> RunAsync(
        string program,
        IEnumerable<string> arguments,
        bool inheritEnvironment,
        CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (!inheritEnvironment)
        {
            start.Environment.Clear();
            start.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        }

        // From the spawner's long-lived thread: bubblewrap's --die-with-parent fires when the starting thread ends.
        using var process = await ProcessSpawner.StartAsync(start).ConfigureAwait(false);
        process.StandardInput.Close();

        // A version query answers at once; the limit only keeps a hung proxy from blocking every deploy.
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30), timeProvider);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(limit.Token, cancellationToken);
        var output = process.StandardOutput.ReadToEndAsync(stop.Token);
        var error = process.StandardError.ReadToEndAsync(stop.Token);
        try
        {
            await process.WaitForExitAsync(stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            var message = (await error.ConfigureAwait(false)).Trim();
            var command = $"{program} {string.Join(' ', start.ArgumentList)}";
            throw new InvalidOperationException($"'{command}' failed: {message}");
        }

        return await output.ConfigureAwait(false);
    }
}
