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
}
