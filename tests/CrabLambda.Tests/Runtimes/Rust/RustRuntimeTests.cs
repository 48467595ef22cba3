using System.Globalization;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Rust;
using CrabLambda.Tests.Execution.Process;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Runtimes.Rust;

/// <summary>
/// Deploy-time behaviour of the Rust runtime: compiling, refusing code with the compiler's diagnostics, and the
/// binary cache.
/// </summary>
[Collection(RustCollection.Name)]
public sealed class RustRuntimeTests(RustRuntimeFixture fixture)
{
    [Fact]
    public async Task PrepareAsync_CompileError_ThrowsWithDiagnosticsAtTheUsersLines()
    {
        const string code = """
            use serde_json::Value;

            fn handler(event: Value) -> String {
                let count: i32 = "three";
                count.to_string()
            }
            """;

        var error = await Assert.ThrowsAsync<FunctionCodeException>(
            () => fixture.Runtime.PrepareAsync(RustRuntimeFixture.Version(code), CancellationToken.None));

        Assert.Contains("error[E0308]: mismatched types", error.Message);
        Assert.Contains("--> function.rs:4:22", error.Message);
        Assert.Contains("let count: i32 = \"three\";", error.Message);
        Assert.DoesNotContain(fixture.Compiler.CacheDirectory, error.Message);
        Assert.DoesNotContain("crablambda::run", error.Message);
    }

    [Fact]
    public async Task PrepareAsync_ErrorThatAlsoBreaksTheGeneratedCall_ShowsOnlyTheUsersError()
    {
        const string code = "fn handler(event: Value) -> Missing { event }";

        var error = await Assert.ThrowsAsync<FunctionCodeException>(
            () => fixture.Runtime.PrepareAsync(RustRuntimeFixture.Version(code), CancellationToken.None));

        Assert.Contains("cannot find type `Missing` in this scope", error.Message);
        Assert.Contains("--> function.rs:1:29", error.Message);
        Assert.DoesNotContain("cannot be called", error.Message);
    }

    [Fact]
    public async Task PrepareAsync_NoFunctionNamedLikeTheHandler_SaysWhichFunctionIsMissing()
    {
        const string code = "fn handle(event: Value) -> String { event.to_string() }";

        var error = await Assert.ThrowsAsync<FunctionCodeException>(
            () => fixture.Runtime.PrepareAsync(RustRuntimeFixture.Version(code, "process"), CancellationToken.None));

        Assert.Contains("no function named `process`", error.Message);
        Assert.DoesNotContain("-->", error.Message);
    }

    [Fact]
    public async Task PrepareAsync_ReturnTypeNotSerializable_ExplainsTheSupportedSignatures()
    {
        const string code = """
            struct Secret;

            fn handler(_event: Value) -> Secret { Secret }
            """;

        var error = await Assert.ThrowsAsync<FunctionCodeException>(
            () => fixture.Runtime.PrepareAsync(RustRuntimeFixture.Version(code), CancellationToken.None));

        Assert.Contains("the handler `handler` cannot be called", error.Message);
        Assert.Contains("Serialize", error.Message);
        Assert.Contains("fn handler(event: Value, context: Context) -> T", error.Message);
        Assert.DoesNotContain("/usr/share", error.Message);
    }

    [Fact]
    public async Task PrepareAsync_BrokenThenFixedVersion_RefusesTheFirstAndBuildsTheSecond()
    {
        var broken = RustRuntimeFixture.Version("fn handler(event: Value) -> String { event }", number: 1);
        var fixedVersion = RustRuntimeFixture.Version(
            "fn handler(event: Value) -> String { event.to_string() }",
            number: 2);

        var error = await Assert.ThrowsAsync<FunctionCodeException>(
            () => fixture.Runtime.PrepareAsync(broken, CancellationToken.None));
        await fixture.Runtime.PrepareAsync(fixedVersion, CancellationToken.None);

        Assert.Contains("--> function.rs:1:", error.Message);
        Assert.True(File.Exists(fixture.Compiler.BinaryPath(new RustProgram(fixedVersion.Code, "handler"))));
    }

    [Fact]
    public async Task PrepareAsync_SameCodeTwiceAndConcurrently_CompilesOnce()
    {
        var code = $"fn handler(_event: Value) -> &'static str {{ \"{Guid.NewGuid():N}\" }}";
        var first = RustRuntimeFixture.Version(code);
        var second = RustRuntimeFixture.Version(code);
        var before = fixture.Compiler.CompileCount;

        await Task.WhenAll(
            fixture.Runtime.PrepareAsync(first, CancellationToken.None),
            fixture.Runtime.PrepareAsync(second, CancellationToken.None));
        await fixture.Runtime.PrepareAsync(second, CancellationToken.None);
        var launchOne = await fixture.Runtime.GetLaunchAsync(first, fixture.NewFolder("code"), CancellationToken.None);
        var launchTwo = await fixture.Runtime.GetLaunchAsync(second, fixture.NewFolder("code"), CancellationToken.None);

        Assert.Equal(before + 1, fixture.Compiler.CompileCount);
        Assert.Equal(
            await File.ReadAllBytesAsync(launchOne.Executable),
            await File.ReadAllBytesAsync(launchTwo.Executable));
    }

    [Fact]
    public async Task GetLaunchAsync_CacheFolderDeleted_RebuildsAndTheWorkerRuns()
    {
        var options = fixture.NewOptions();
        using var compiler = RustRuntimeFixture.NewCompiler(options);
        var runtime = new RustRuntime(compiler);
        var version = RustRuntimeFixture.Version("fn handler(event: Value) -> Value { json!([event, event]) }");
        await runtime.PrepareAsync(version, CancellationToken.None);

        Directory.Delete(options.CacheDirectory!, recursive: true);
        var launch = await runtime.GetLaunchAsync(version, fixture.NewFolder("code"), CancellationToken.None);
        await using var worker = await WorkerHarness.StartAsync(launch);
        var reply = await worker.InvokeAsync("7");

        Assert.Equal(2, compiler.CompileCount);
        Assert.Equal("[7,7]", reply.OutputJson);
    }

    [Fact]
    public async Task GetLaunchAsync_PreparedVersion_NamesStaticWorkerInCodeFolderWithoutCompiling()
    {
        var version = RustRuntimeFixture.Version("fn handler(event: Value) -> Value { event }");
        var codeFolder = fixture.NewFolder("code");
        await fixture.Runtime.PrepareAsync(version, CancellationToken.None);
        var before = fixture.Compiler.CompileCount;

        var launch = await fixture.Runtime.GetLaunchAsync(version, codeFolder, CancellationToken.None);

        Assert.Equal(before, fixture.Compiler.CompileCount);
        Assert.Equal(Path.Combine(codeFolder, RustRuntime.WorkerFileName), launch.Executable);
        Assert.Empty(launch.Arguments);
        Assert.Empty(launch.ReadOnlyPaths);
        Assert.Empty(launch.Environment);
    }

    [Fact]
    public async Task PrepareAsync_CompilePastTheTimeLimit_IsStoppedAndRefused()
    {
        var options = fixture.Options;
        var slow = new RustRuntimeOptions
        {
            CacheDirectory = options.CacheDirectory,
            CompileTimeout = TimeSpan.FromMilliseconds(1),
            WarmUpOnStart = false,
        };
        using var compiler = RustRuntimeFixture.NewCompiler(slow);
        var runtime = new RustRuntime(compiler);
        var version = RustRuntimeFixture.Version($"fn handler(_e: Value) -> u32 {{ {Random.Shared.Next()} }}");

        var error = await Assert.ThrowsAsync<FunctionCodeException>(
            () => runtime.PrepareAsync(version, CancellationToken.None));

        Assert.Contains("did not compile within", error.Message);
        Assert.False(File.Exists(compiler.BinaryPath(new RustProgram(version.Code, version.Handler))));
    }

    [Theory]
    [InlineData(IsolationMode.Sandbox)]
    [InlineData(IsolationMode.None)]
    public async Task PrepareAsync_WhileCompiling_NoCompileProcessIsInTheServersSession(IsolationMode isolation)
    {
        // A terminal's Ctrl-C signals the server's whole process group: a compile in it would die mid-deploy.
        var cache = fixture.Options.CacheDirectory!;
        var options = new RustRuntimeOptions
        {
            CacheDirectory = cache,
            CompileTimeout = TimeSpan.FromMinutes(5),
            CompileIsolation = isolation,
            WarmUpOnStart = false,
        };
        var compiler = RustRuntimeFixture.NewCompiler(options);
        var runtime = new RustRuntime(compiler);

        // Constant evaluation that never ends keeps rustc at work while its processes are looked at.
        var version = RustRuntimeFixture.Version(
            $$"""
            #[allow(long_running_const_eval)]
            const SPIN: u64 = {
                let mut i = 0u64;
                let mut s = {{Random.Shared.Next()}}u64;
                while i < u64::MAX { s = s.wrapping_add(i); i += 1; }
                s
            };
            fn handler(_event: Value) -> u64 { SPIN }
            """);
        var compile = runtime.PrepareAsync(version, CancellationToken.None);
        try
        {
            var processes = new List<(int Pid, string CommandLine)>();
            await ExecutorHarness.WaitUntilAsync(
                () =>
                {
                    processes = ServerProcess.Descendants(Environment.ProcessId)
                        .Where(p => p.CommandLine.Contains(cache, StringComparison.Ordinal))
                        .ToList();
                    return processes.Any(p => p.CommandLine.Contains("rustc", StringComparison.Ordinal));
                },
                "rustc compiles the function");

            var session = ProcessIds.GroupAndSession(Environment.ProcessId).Session;
            var inSession = processes.Where(p => ProcessIds.TrySession(p.Pid) == session).ToArray();
            Assert.True(inSession.Length == 0, "in the server's session: " + string.Join("; ", inSession));
        }
        finally
        {
            compiler.Dispose();
            await Assert.ThrowsAnyAsync<Exception>(() => compile);
        }
    }

    [Theory]
    [InlineData("fn handler(_event: Value) -> &'static str {{ include_str!(\"{0}\") }}")]
    [InlineData("#[path = \"{0}\"] mod leak;\nfn handler(_event: Value) -> u8 {{ 0 }}")]
    public async Task PrepareAsync_SandboxedCompileOfCodeReadingAServerFile_CannotSeeTheFile(string template)
    {
        var secret = Path.Combine(fixture.NewFolder("crablambda-server-data"), "secret.rs");
        await File.WriteAllTextAsync(secret, "const SECRET: &str = \"top-secret-value\";\n");
        var sandboxed = new RustRuntimeOptions
        {
            CacheDirectory = fixture.Options.CacheDirectory,
            CompileTimeout = fixture.Options.CompileTimeout,
            CompileIsolation = IsolationMode.Sandbox,
            WarmUpOnStart = false,
        };
        using var compiler = RustRuntimeFixture.NewCompiler(sandboxed);
        var runtime = new RustRuntime(compiler);
        var code = string.Format(CultureInfo.InvariantCulture, template, secret);

        var error = await Assert.ThrowsAsync<FunctionCodeException>(
            () => runtime.PrepareAsync(RustRuntimeFixture.Version(code), CancellationToken.None));

        Assert.Contains("No such file or directory", error.Message);
        Assert.DoesNotContain("top-secret-value", error.Message);
    }

    [Theory]
    [InlineData("handler")]
    [InlineData("_private")]
    [InlineData("handle_event2")]
    [InlineData("Ünicode_is_not_allowed", false)]
    [InlineData("", false)]
    [InlineData("_", false)]
    [InlineData("2fast", false)]
    [InlineData("my-handler", false)]
    [InlineData("module::handler", false)]
    [InlineData("fn", false)]
    [InlineData("main", false)]
    [InlineData("__crablambda_run", false)]
    public void ValidateHandler_Name_AcceptsOnlyPlainRustIdentifiers(string handler, bool valid = true)
    {
        var message = fixture.Runtime.ValidateHandler(handler);

        Assert.Equal(valid, message is null);
    }
}
