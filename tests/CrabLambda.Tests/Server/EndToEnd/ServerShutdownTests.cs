using System.Globalization;
using System.Net;
using System.Text.Json;
using CrabLambda.Runtimes.Rust;
using CrabLambda.Tests.Execution.Process;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Stops a server process the ways an operator and a terminal do while invocations run, and checks what their
/// callers get, what is stored, and what is left on the host.
/// </summary>
public sealed class ServerShutdownTests : IDisposable
{
    private const int SigInt = 2;
    private const int SigTerm = 15;

    // Iterations of constant evaluation that keep rustc busy for seconds, so that a signal lands during the compile.
    private const ulong CompileSpin = 2_000_000;

    private readonly string _directory = Directory.CreateTempSubdirectory("crablambda-shutdown-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left in the temp folder; nothing depends on it.
        }
    }

    [Fact]
    public async Task CtrlC_ToTheServersProcessGroup_RunningInvocationsSucceedThenTheServerExitsLeavingNoWorker()
    {
        await using var server = await RunningServerProcess.StartAsync(_directory, new Dictionary<string, string>());
        await server.DeployPythonAsync("waiter", FunctionGate.PythonHandler, new { network = true });
        using var gate = new FunctionGate();
        var invocations = Enumerable.Range(0, 2).Select(_ => server.InvokeAsync("waiter", gate.Event)).ToArray();
        await gate.WaitForStartedAsync(2);
        var workers = ServerProcess.Descendants(server.Pid);

        // What a terminal's Ctrl-C does: SIGINT to every process of the foreground group. Once the server has seen
        // it (it stops listening), the handlers may return.
        server.SignalGroup(SigInt);
        await server.WaitUntilNotListeningAsync();
        gate.Release();

        foreach (var invocation in invocations)
        {
            var result = await invocation;
            Assert.True(
                result.GetProperty("status").GetString() == "success",
                $"{result}\nthe server's output:\n{server.Output}");
            Assert.Equal("done", result.GetProperty("output").GetString());
        }

        Assert.Equal(0, await server.WaitForExitAsync());
        var left = workers.Where(p => ServerProcess.IsAlive(p.Pid, p.CommandLine)).ToArray();
        Assert.True(left.Length == 0, "left running: " + string.Join(", ", left));
    }

    [Fact]
    public async Task Sigterm_InvocationsRunningPastTheShutdownTimeout_AreAnsweredAndStoredAsStoppedByTheShutdown()
    {
        // 6 s: the invocations get 3 s, and the last 3 s are for stopping, recording and answering them.
        var variables = new Dictionary<string, string> { ["SHUTDOWN_TIMEOUT_SECS"] = "6" };
        var ids = new List<string>();
        await using (var server = await RunningServerProcess.StartAsync(_directory, variables))
        {
            await server.DeployPythonAsync(
                "waiter",
                FunctionGate.PythonHandler,
                new { network = true, timeout_secs = 300 });
            using var gate = new FunctionGate();
            var invocations = Enumerable.Range(0, 2).Select(_ => server.InvokeAsync("waiter", gate.Event)).ToArray();
            await gate.WaitForStartedAsync(2);

            // The handlers never return on their own.
            server.Signal(SigTerm);

            foreach (var invocation in invocations)
            {
                var result = await invocation;
                Assert.True(
                    result.GetProperty("status").GetString() == "error",
                    $"{result}\nthe server's output:\n{server.Output}");
                Assert.Equal(
                    "The execution was stopped because the server shut down.",
                    result.GetProperty("error").GetString());
                ids.Add(result.GetProperty("execution_id").GetString()!);
            }

            Assert.Equal(0, await server.WaitForExitAsync());
            Assert.Contains("stopping 2 executions still running after 3 s", server.Output);
        }

        await using var restarted = await RunningServerProcess.StartAsync(_directory, variables);
        var history = await ServerHarness.ExpectAsync(
            await restarted.Http.GetAsync("api/functions/waiter/executions"),
            System.Net.HttpStatusCode.OK);
        Assert.Equal(ids.Order(), history.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).Order());
        Assert.All(history.EnumerateArray(), e => Assert.Equal("error", e.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task Sigterm_RustDeployStillCompilingWhenTheGraceEnds_Is503AndStoresNoFunction()
    {
        // 6 s: deploys and invocations get 3 s, and the last 3 s are for answering them.
        var variables = new Dictionary<string, string> { ["SHUTDOWN_TIMEOUT_SECS"] = "6" };
        await using (var server = await RunningServerProcess.StartAsync(_directory, variables))
        {
            // Constant evaluation that never ends: the compile can only be stopped.
            var code = SpinningCode(ulong.MaxValue);
            var deploy = server.Http.PostAsync("api/functions", RustDeploy("endless", code));
            var compile = await WaitUntilCompilingAsync(server, deploy, code);

            server.Signal(SigTerm);

            var response = await deploy;
            var problem = await ServerHarness.ExpectAsync(response, HttpStatusCode.ServiceUnavailable);
            Assert.Equal("Server shutting down", problem.GetProperty("title").GetString());
            Assert.Contains("nothing was deployed", problem.GetProperty("detail").GetString());
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Equal(0, await server.WaitForExitAsync());
            await ExecutorHarness.WaitUntilAsync(
                () => !compile.Any(p => ServerProcess.IsAlive(p.Pid, p.CommandLine)),
                "the compile's processes are gone");
        }

        await using var restarted = await RunningServerProcess.StartAsync(_directory, variables);
        await ServerHarness.ExpectAsync(
            await restarted.Http.GetAsync("api/functions/endless"),
            HttpStatusCode.NotFound);
        var functions = await ServerHarness.ExpectAsync(
            await restarted.Http.GetAsync("api/functions"),
            HttpStatusCode.OK);
        Assert.Equal(0, functions.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Sigterm_RustDeployThatCompilesWithinTheGrace_IsAnsweredAndItsVersionRunsAfterARestart()
    {
        var variables = new Dictionary<string, string> { ["SHUTDOWN_TIMEOUT_SECS"] = "300" };
        var seed = (ulong)Random.Shared.Next();
        await using (var server = await RunningServerProcess.StartAsync(_directory, variables))
        {
            var code = SpinningCode(CompileSpin, seed);
            var deploy = server.Http.PostAsync("api/functions", RustDeploy("counted", code));
            await WaitUntilCompilingAsync(server, deploy, code);

            server.Signal(SigTerm);

            var created = await ServerHarness.ExpectAsync(await deploy, HttpStatusCode.Created);
            Assert.Equal(1, created.GetProperty("current_version").GetInt32());
            Assert.Equal(0, await server.WaitForExitAsync());
        }

        await using var restarted = await RunningServerProcess.StartAsync(_directory, variables);
        var result = await restarted.InvokeAsync("counted", "{}");
        Assert.True(result.GetProperty("status").GetString() == "success", result.ToString());
        var expected = seed + (CompileSpin * (CompileSpin - 1) / 2);
        Assert.Equal(expected.ToString(CultureInfo.InvariantCulture), result.GetProperty("output").GetRawText());
    }

    private static StringContent RustDeploy(string name, string code) =>
        new(JsonSerializer.Serialize(new { name, runtime = "rust", handler = "handler", code }));

    /// <summary>
    /// A handler whose constant takes rustc <paramref name="iterations"/> steps of constant evaluation to compute. The
    /// seed makes the code new to the build cache, so that it is compiled.
    /// </summary>
    private static string SpinningCode(ulong iterations, ulong? seed = null) =>
        $$"""
        #[allow(long_running_const_eval)]
        const SPIN: u64 = {
            let mut i = 0u64;
            let mut s = {{seed ?? (ulong)Random.Shared.Next()}}u64;
            while i < {{iterations}}u64 { s = s.wrapping_add(i); i += 1; }
            s
        };
        fn handler(_event: Value) -> u64 { SPIN }
        """;

    /// <summary>
    /// Waits until rustc compiles the deployed code under the server (after the start-up warm-up, which the deploy
    /// waits for), and returns the compile's processes. Fails if the deploy is answered first.
    /// </summary>
    private static async Task<List<(int Pid, string CommandLine)>> WaitUntilCompilingAsync(
        RunningServerProcess server,
        Task<HttpResponseMessage> deploy,
        string code)
    {
        var crate = "--crate-name " + new RustProgram(code, "handler").PackageName.Replace('-', '_') + " ";
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (true)
        {
            var processes = ServerProcess.Descendants(server.Pid);
            if (processes.Any(p => p.CommandLine.Contains(crate, StringComparison.Ordinal)))
            {
                return processes.Where(p => p.CommandLine.Contains("crablambda-rust", StringComparison.Ordinal))
                    .ToList();
            }

            if (deploy.IsCompleted)
            {
                var response = await deploy;
                Assert.Fail(
                    $"the deploy was answered {(int)response.StatusCode} before its compile was seen: "
                        + await response.Content.ReadAsStringAsync());
            }

            Assert.True(
                DateTime.UtcNow < deadline,
                $"rustc never compiled the function; the server's output:\n{server.Output}");
            await Task.Delay(100);
        }
    }
}
