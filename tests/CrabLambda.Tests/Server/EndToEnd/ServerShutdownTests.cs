using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Stops a server process the ways an operator and a terminal do while invocations run, and checks what their
/// callers get, what is stored, and what is left on the host.
/// </summary>
public sealed class ServerShutdownTests : IDisposable
{
    private const int SigInt = 2;

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
}
