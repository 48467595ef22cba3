using System.Security.Cryptography;
using System.Text;
using CrabLambda.Functions;
using CrabLambda.Runtimes.Rust;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CrabLambda.Tests.Runtimes.Rust;

/// <summary>
/// One Rust runtime with one warmed cache for all Rust tests, so that the crates are built once per test run.
/// Needs the real toolchain and crates: without them every Rust test fails, it never skips.
/// </summary>
public sealed class RustRuntimeFixture : IAsyncLifetime
{
    private readonly List<string> _folders = [];

    public RustRuntimeFixture()
    {
        Options = NewOptions();
        Compiler = NewCompiler(Options);
        Runtime = new RustRuntime(Compiler);
    }

    internal RustRuntimeOptions Options { get; }

    internal RustCompiler Compiler { get; }

    internal RustRuntime Runtime { get; }

    public Task InitializeAsync() => Compiler.WarmUpAsync(CancellationToken.None);

    public Task DisposeAsync()
    {
        Compiler.Dispose();
        foreach (var folder in _folders.Where(Directory.Exists))
        {
            Directory.Delete(folder, recursive: true);
        }

        return Task.CompletedTask;
    }

    /// <summary>Settings with a cache folder of their own, deleted with the fixture.</summary>
    internal RustRuntimeOptions NewOptions() => new()
    {
        CacheDirectory = NewFolder("crablambda-rust-tests"),
        CompileTimeout = TimeSpan.FromMinutes(5),
        WarmUpOnStart = false,
    };

    internal static RustCompiler NewCompiler(RustRuntimeOptions options) => new(
        Microsoft.Extensions.Options.Options.Create(options),
        new RustToolchainLocator(Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System),
        TimeProvider.System,
        NullLogger<RustCompiler>.Instance);

    /// <summary>A new, empty folder under the temporary directory, deleted with the fixture.</summary>
    internal string NewFolder(string prefix)
    {
        // Short names: the executor keeps its worker sockets inside, and a socket path has at most 107 bytes.
        var folder = Directory.CreateTempSubdirectory(prefix + "-").FullName;
        lock (_folders)
        {
            _folders.Add(folder);
        }

        return folder;
    }

    internal static FunctionVersion Version(string code, string handler = "handler", int number = 1) => new(
        Guid.NewGuid(),
        number,
        code,
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code))),
        "rust",
        handler,
        128,
        30,
        false,
        DateTimeOffset.UnixEpoch);

    /// <summary>Compiles the code if needed and starts its worker.</summary>
    internal async Task<WorkerHarness> StartWorkerAsync(string code, string handler = "handler")
    {
        var version = Version(code, handler);
        await Runtime.PrepareAsync(version, CancellationToken.None);
        var launch = await Runtime.GetLaunchAsync(version, NewFolder("crablambda-rust-code"), CancellationToken.None);
        var worker = await WorkerHarness.StartAsync(launch);
        Assert.Equal("ready", (string?)worker.Hello["type"]);
        return worker;
    }
}

[CollectionDefinition(Name)]
public sealed class RustCollection : ICollectionFixture<RustRuntimeFixture>
{
    public const string Name = "Rust runtime";
}
