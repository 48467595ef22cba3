using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using CrabLambda.Execution.Process;
using CrabLambda.Execution.Sandbox;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// Compiles functions into worker binaries with cargo, offline, and caches the binaries by key, so that identical
/// code is built once and invoking never compiles.
/// </summary>
/// <remarks>
/// Each function is a cargo package of its own; they share compiled crates through a cargo build folder. Cargo
/// locks a build folder for a whole build, so each of the <see cref="RustRuntimeOptions.MaxConcurrentCompiles"/>
/// compile slots has a folder of its own, and a compile waits for a free slot.
/// </remarks>
internal sealed partial class RustCompiler : IDisposable
{
    private const UnixFileMode PrivateFolder =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode ExecutableFile = PrivateFolder |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const int MaxDiagnostics = 200;
    private const int MaxStandardErrorChars = 16 * 1024;

    private const string WarmUpCode = "fn handler(event: Value) -> Value { json!({ \"event\": event }) }\n";

    private readonly RustRuntimeOptions _options;
    private readonly RustToolchainLocator _toolchains;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<RustCompiler> _logger;
    private readonly Channel<int> _freeSlots;
    private readonly bool[] _warmSlots;
    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _builds = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private int _compileCount;

    public RustCompiler(
        IOptions<RustRuntimeOptions> options,
        RustToolchainLocator toolchains,
        TimeProvider timeProvider,
        ILogger<RustCompiler> logger)
    {
        _options = options.Value;
        _toolchains = toolchains;
        _timeProvider = timeProvider;
        _logger = logger;
        CacheDirectory = Path.GetFullPath(
            _options.CacheDirectory ?? Path.Combine(Path.GetTempPath(), "crablambda-rust"));

        _warmSlots = new bool[_options.MaxConcurrentCompiles];
        _freeSlots = Channel.CreateUnbounded<int>();
        for (var slot = 0; slot < _warmSlots.Length; slot++)
        {
            _freeSlots.Writer.TryWrite(slot);
        }
    }

    /// <summary>The folder that holds the binaries, the build folders and cargo's private home.</summary>
    public string CacheDirectory { get; }

    /// <summary>How many times cargo was run for a function (warm-ups not counted).</summary>
    public int CompileCount => Volatile.Read(ref _compileCount);

    /// <summary>Where the binary of a program is cached.</summary>
    public string BinaryPath(RustProgram program) => Path.Combine(CacheDirectory, "bin", program.Key);

    /// <summary>
    /// Returns the cached binary of a program, compiling it first when it is not cached. Concurrent calls for the
    /// same key share one compile; cancelling a call stops waiting, not the compile.
    /// </summary>
    /// <exception cref="FunctionCodeException">The code does not compile, or not within the time limit.</exception>
    /// <exception cref="InvalidOperationException">The toolchain or the crates are missing or broken.</exception>
    public async Task<string> BuildAsync(RustProgram program, CancellationToken cancellationToken)
    {
        var binary = BinaryPath(program);
        if (File.Exists(binary))
        {
            return binary;
        }

        var build = _builds.GetOrAdd(program.Key, _ => new Lazy<Task<string>>(() => BuildSharedAsync(program)));
        return await build.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Builds the crates into every compile slot's build folder, so that later compiles only compile the function.
    /// </summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var toolchain = await _toolchains.GetAsync(stop.Token).ConfigureAwait(false);
        LogToolchain(toolchain.Release, toolchain.HostTarget, toolchain.Sysroot, toolchain.CrateRegistry);
        if (toolchain.Bubblewrap is null)
        {
            LogNotSandboxed(toolchain.Isolation);
        }
        else
        {
            LogSandboxed(toolchain.Isolation);
        }

        var program = new RustProgram(WarmUpCode, "handler");
        for (var round = 0; round < _warmSlots.Length; round++)
        {
            var slot = await _freeSlots.Reader.ReadAsync(stop.Token).ConfigureAwait(false);
            try
            {
                if (_warmSlots[slot])
                {
                    continue;
                }

                var started = _timeProvider.GetTimestamp();
                var result = await CompileAsync(slot, program, toolchain, stop.Token).ConfigureAwait(false);
                if (result.Executable is null)
                {
                    throw new InvalidOperationException(
                        "The warm-up program did not build: " + DescribeFailure(result, program, toolchain));
                }

                RemoveArtifacts(slot, program, toolchain);
                _warmSlots[slot] = true;
                LogWarmedUp(slot, _timeProvider.GetElapsedTime(started).TotalMilliseconds);
            }
            finally
            {
                _freeSlots.Writer.TryWrite(slot);
            }
        }
    }

    /// <summary>Stops running compiles; their callers get an <see cref="OperationCanceledException"/>.</summary>
    public void Dispose() => _stopping.Cancel();

    private async Task<string> BuildSharedAsync(RustProgram program)
    {
        try
        {
            return await BuildInSlotAsync(program, _stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            _builds.TryRemove(program.Key, out _);
        }
    }

    private async Task<string> BuildInSlotAsync(RustProgram program, CancellationToken cancellationToken)
    {
        var toolchain = await _toolchains.GetAsync(cancellationToken).ConfigureAwait(false);
        var slot = await _freeSlots.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another server sharing the cache may have built it while this one waited.
            var binary = BinaryPath(program);
            if (File.Exists(binary))
            {
                return binary;
            }

            Interlocked.Increment(ref _compileCount);
            var started = _timeProvider.GetTimestamp();
            var result = await CompileAsync(slot, program, toolchain, cancellationToken).ConfigureAwait(false);
            if (result.TimedOut)
            {
                LogCompileTimedOut(program.Key, _options.CompileTimeout.TotalSeconds);
                throw new FunctionCodeException(
                    $"The function did not compile within {_options.CompileTimeout.TotalSeconds:0.#} s, so the " +
                    "compile was stopped. The operator can raise the limit (RustRuntimeOptions.CompileTimeout).");
            }

            if (result.Executable is null)
            {
                var diagnostics = RustDiagnostics.Format(result.Diagnostics, program, HiddenPaths(toolchain));
                if (diagnostics is not null)
                {
                    LogCompileFailed(program.Key);
                    throw new FunctionCodeException(diagnostics);
                }

                throw new InvalidOperationException(
                    "cargo could not build the function: " + DescribeFailure(result, program, toolchain));
            }

            Install(result.Executable, binary);
            RemoveArtifacts(slot, program, toolchain);
            _warmSlots[slot] = true;
            LogCompiled(program.Key, _timeProvider.GetElapsedTime(started).TotalMilliseconds);
            return binary;
        }
        finally
        {
            _freeSlots.Writer.TryWrite(slot);
        }
    }

    private async Task<CargoResult> CompileAsync(
        int slot,
        RustProgram program,
        RustToolchain toolchain,
        CancellationToken cancellationToken)
    {
        var workerCrate = PrepareCache(toolchain);
        var package = Path.Combine(CacheDirectory, "build", $"{program.PackageName}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(package);
        try
        {
            File.WriteAllText(Path.Combine(package, "Cargo.toml"), program.Manifest(workerCrate));
            File.WriteAllText(Path.Combine(package, RustProgram.SourceFileName), program.Source);
            LogCompiling(program.Key, slot);
            return await RunCargoAsync(slot, package, program, toolchain, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            TryDelete(() => Directory.Delete(package, recursive: true));
        }
    }

    /// <summary>
    /// Creates the cache's layout and writes the cargo configuration and the <c>crablambda</c> crate; each file is
    /// written only when it differs, because a newer file makes cargo rebuild everything that depends on it. Runs
    /// before every compile, so a cache folder deleted while the server runs comes back.
    /// </summary>
    /// <returns>The folder of the <c>crablambda</c> crate.</returns>
    private string PrepareCache(RustToolchain toolchain)
    {
        Directory.CreateDirectory(CacheDirectory);
        try
        {
            // Only the owner may change a folder's mode: this fails on a folder someone else created, whose
            // binaries this server would otherwise run.
            // NOTE: root may change any folder's mode, so a server running as root does not notice a cache folder
            // planted by another user; give such a server a cache folder under a directory only root can write.
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(CacheDirectory, PrivateFolder);
            }
        }
        catch (UnauthorizedAccessException exception)
        {
            throw new InvalidOperationException(
                $"The Rust cache folder '{CacheDirectory}' belongs to another user; choose another " +
                "(RustRuntimeOptions.CacheDirectory).",
                exception);
        }

        Directory.CreateDirectory(CargoHome);
        Directory.CreateDirectory(TemporaryDirectory);
        WriteIfChanged(Path.Combine(CargoHome, "config.toml"), CargoConfig(toolchain));

        var workerCrate = Path.Combine(CacheDirectory, "crablambda-" + RustProgram.RecipeDigest[..16]);
        Directory.CreateDirectory(Path.Combine(workerCrate, "src"));
        WriteIfChanged(Path.Combine(workerCrate, "Cargo.toml"), RustProgram.WorkerCrateManifest);
        WriteIfChanged(Path.Combine(workerCrate, "src", "lib.rs"), RustProgram.WorkerCrateSource);
        return workerCrate;
    }

    private string CargoHome => Path.Combine(CacheDirectory, ".cargo");

    private string TemporaryDirectory => Path.Combine(CacheDirectory, "tmp");

    private string TargetDirectory(int slot) => Path.Combine(CacheDirectory, "target", slot.ToString("D"));

    /// <summary>
    /// The generated <c>.cargo/config.toml</c>: crates come from the local registry, never from the network, and
    /// the binary is linked statically, so that it needs nothing of the host to run and a sandbox need not show it
    /// the host's libraries.
    /// </summary>
    /// <remarks>
    /// NOTE: a statically linked glibc resolves host names only through the files and DNS sources built into it;
    /// other name services of the host (LDAP, mDNS) are out of reach of a function.
    /// </remarks>
    private static string CargoConfig(RustToolchain toolchain)
    {
        var config = new StringBuilder()
            .Append("[source.crates-io]\nreplace-with = \"local-registry\"\n\n")
            .Append($"[source.local-registry]\ndirectory = \"{Toml.Escape(toolchain.CrateRegistry)}\"\n\n")
            .Append("[net]\noffline = true\n\n")
            .Append("[term]\ncolor = \"never\"\n");

        if (toolchain.HostTarget.Contains("-linux-gnu", StringComparison.Ordinal))
        {
            config.Append($"\n[target.\"{Toml.Escape(toolchain.HostTarget)}\"]\n")
                .Append("rustflags = [\"-C\", \"target-feature=+crt-static\"]\n");
        }

        return config.ToString();
    }

    private async Task<CargoResult> RunCargoAsync(
        int slot,
        string package,
        RustProgram program,
        RustToolchain toolchain,
        CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(toolchain.Bubblewrap ?? toolchain.Cargo)
        {
            // Cargo reads .cargo/config.toml in every folder above its working directory. Starting at the root
            // leaves only the generated one in CARGO_HOME, not one that someone left above the cache folder.
            WorkingDirectory = "/",
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (toolchain.Bubblewrap is not null)
        {
            var sandbox = RustCompileSandbox.Arguments(toolchain.Sysroot, toolchain.CrateRegistry, CacheDirectory);
            foreach (var argument in sandbox)
            {
                start.ArgumentList.Add(argument);
            }

            start.ArgumentList.Add(toolchain.Cargo);
        }

        foreach (var argument in (string[])["build", "--release", "--offline", "--target", toolchain.HostTarget,
            "--message-format=json", "--color", "never", "--manifest-path", Path.Combine(package, "Cargo.toml")])
        {
            start.ArgumentList.Add(argument);
        }

        // Nothing of the server's environment: its secrets must not reach build scripts or the compiled code.
        start.Environment.Clear();
        start.Environment["PATH"] = $"{Path.Combine(toolchain.Sysroot, "bin")}:/usr/local/bin:/usr/bin:/bin";
        start.Environment["HOME"] = CargoHome;
        start.Environment["CARGO_HOME"] = CargoHome;
        start.Environment["CARGO_TARGET_DIR"] = TargetDirectory(slot);
        start.Environment["RUSTC"] = toolchain.Rustc;
        start.Environment["TMPDIR"] = TemporaryDirectory;
        start.Environment["LC_ALL"] = "C";

        // From the spawner's long-lived thread: bubblewrap's --die-with-parent fires when the starting thread ends. In
        // a session of its own, so that a terminal's Ctrl-C to the server does not break a deploy in the middle.
        using var process = await ProcessSpawner.StartAsync(NewSession.Wrap(start)).ConfigureAwait(false);
        process.StandardInput.Close();

        // NOTE: a compile is limited in time, not in memory: rustc takes what the code makes it take (a huge constant,
        // deep macro recursion) until the time limit stops it, so a host for untrusted code needs memory to spare.
        using var limit = new CancellationTokenSource(_options.CompileTimeout, _timeProvider);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(limit.Token, cancellationToken);
        using var killOnStop = stop.Token.Register(() => Kill(process));

        var standardError = ReadBoundedAsync(process.StandardError, MaxStandardErrorChars);
        var diagnostics = new List<JsonElement>();
        string? executable = null;
        while (await process.StandardOutput.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
        {
            ReadMessage(line, program, diagnostics, ref executable);
        }

        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        var errorText = await standardError.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();

        var succeeded = process.ExitCode == 0 && !limit.IsCancellationRequested;
        return new CargoResult(
            succeeded ? executable : null,
            diagnostics,
            limit.IsCancellationRequested,
            process.ExitCode,
            errorText);
    }

    /// <summary>Keeps what matters of one line of cargo's JSON output: the function's diagnostics and binary.</summary>
    private static void ReadMessage(
        string line,
        RustProgram program,
        List<JsonElement> diagnostics,
        ref string? executable)
    {
        if (!line.StartsWith('{'))
        {
            return;
        }

        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            var forFunction = root.TryGetProperty("target", out var target) &&
                target.TryGetProperty("name", out var name) &&
                name.GetString() == program.PackageName;
            if (!forFunction)
            {
                return;
            }

            switch (root.GetProperty("reason").GetString())
            {
                case "compiler-message" when diagnostics.Count < MaxDiagnostics:
                    diagnostics.Add(root.GetProperty("message").Clone());
                    break;
                case "compiler-artifact" when root.TryGetProperty("executable", out var path) &&
                    path.ValueKind == JsonValueKind.String:
                    executable = path.GetString();
                    break;
            }
        }
        catch (JsonException)
        {
            // Not one of cargo's messages: something a build script printed.
        }
    }

    private string DescribeFailure(CargoResult result, RustProgram program, RustToolchain toolchain)
    {
        if (result.TimedOut)
        {
            return $"it did not finish within {_options.CompileTimeout.TotalSeconds:0.#} s.";
        }

        var diagnostics = RustDiagnostics.Format(result.Diagnostics, program, HiddenPaths(toolchain));
        var detail = diagnostics ?? RustDiagnostics.Sanitize(result.StandardError.Trim(), HiddenPaths(toolchain));
        return $"cargo exited with {result.ExitCode}: {detail}";
    }

    private string[] HiddenPaths(RustToolchain toolchain) =>
    [
        CacheDirectory,
        toolchain.CrateRegistry,
        Path.Combine(toolchain.Sysroot, "lib", "rustlib", "src", "rust"),
        toolchain.Sysroot,
        Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
    ];

    private static void Install(string executable, string binary)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(binary)!);
        var temporary = $"{binary}.{Guid.NewGuid():N}.tmp";
        File.Copy(executable, temporary);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, ExecutableFile);
        }

        File.Move(temporary, binary, overwrite: true);
    }

    /// <summary>
    /// Deletes what the function's build left in the shared build folder, which would otherwise grow by a binary per
    /// function ever deployed. The crates stay.
    /// </summary>
    private void RemoveArtifacts(int slot, RustProgram program, RustToolchain toolchain)
    {
        var release = Path.Combine(TargetDirectory(slot), toolchain.HostTarget, "release");
        var crate = program.PackageName.Replace('-', '_');

        TryDelete(() =>
        {
            File.Delete(Path.Combine(release, program.PackageName));
            File.Delete(Path.Combine(release, program.PackageName + ".d"));
            foreach (var file in Directory.GetFiles(Path.Combine(release, "deps"), crate + "-*"))
            {
                File.Delete(file);
            }

            var fingerprints = Path.Combine(release, ".fingerprint");
            foreach (var folder in Directory.GetDirectories(fingerprints, program.PackageName + "-*"))
            {
                Directory.Delete(folder, recursive: true);
            }
        });
    }

    private static void WriteIfChanged(string path, string content)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content)
        {
            return;
        }

        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }

    private static async Task<string> ReadBoundedAsync(StreamReader reader, int maxChars)
    {
        var text = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false)) > 0)
        {
            // Keep reading past the limit, so that cargo never blocks on a full pipe.
            text.Append(buffer, 0, Math.Min(read, Math.Max(0, maxChars - text.Length)));
        }

        return text.ToString();
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception exception) when (exception is InvalidOperationException or Win32Exception)
        {
            // It has exited already.
        }
    }

    private static void TryDelete(Action delete)
    {
        try
        {
            delete();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Best effort: what is left is cleaned up by the next build or never matters.
        }
    }

    [LoggerMessage(301, LogLevel.Information,
        "Rust toolchain {Release} for {HostTarget} in {Sysroot}; crates from {Registry}")]
    private partial void LogToolchain(string release, string hostTarget, string sysroot, string registry);

    [LoggerMessage(307, LogLevel.Information, "Rust runtime: {Isolation}")]
    private partial void LogSandboxed(string isolation);

    [LoggerMessage(308, LogLevel.Warning, "Rust runtime: {Isolation}")]
    private partial void LogNotSandboxed(string isolation);

    [LoggerMessage(302, LogLevel.Debug, "Compiling Rust function {Key} in build folder {Slot}")]
    private partial void LogCompiling(string key, int slot);

    [LoggerMessage(303, LogLevel.Information, "Compiled Rust function {Key} in {ElapsedMs:0} ms")]
    private partial void LogCompiled(string key, double elapsedMs);

    [LoggerMessage(304, LogLevel.Debug, "Rust function {Key} does not compile")]
    private partial void LogCompileFailed(string key);

    [LoggerMessage(305, LogLevel.Warning, "Compiling Rust function {Key} was stopped after {TimeoutSecs} s")]
    private partial void LogCompileTimedOut(string key, double timeoutSecs);

    [LoggerMessage(306, LogLevel.Information, "Warmed up Rust build folder {Slot} in {ElapsedMs:0} ms")]
    private partial void LogWarmedUp(int slot, double elapsedMs);

    /// <summary>What one cargo run produced.</summary>
    private sealed record CargoResult(
        string? Executable,
        IReadOnlyList<JsonElement> Diagnostics,
        bool TimedOut,
        int ExitCode,
        string StandardError);
}
