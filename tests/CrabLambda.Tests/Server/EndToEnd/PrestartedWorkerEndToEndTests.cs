using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Tests.Execution.Process;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// The server's generic workers, through the REST API with ISOLATION=sandbox: started with the server, said in its
/// start-up log, and running the first invocation of a function deployed after them.
/// </summary>
public sealed class PrestartedWorkerEndToEndTests
{
    [Theory]
    [InlineData("python", "def handler(event):\n    print('first')\n    return event['n'] + 1\n")]
    [InlineData("node", "exports.handler = async (event) => { console.log('first'); return event.n + 1; };")]
    public async Task FirstInvoke_OfADeployedFunction_RunsOnAWorkerStartedWithTheServer(string runtime, string code)
    {
        await using var server = await ServerHarness.StartAsync(new Dictionary<string, string?>
        {
            ["ISOLATION"] = "sandbox",
        });
        var executor = Assert.IsType<ProcessExecutor>(server.Services.GetRequiredService<IExecutor>());
        await ExecutorHarness.WaitUntilAsync(
            () => executor.GetGenericWorkerProcessIds(runtime).Count == 2,
            $"the server started its two {runtime} workers ahead");
        var startedBefore = executor.GetGenericWorkerProcessIds(runtime);

        var function = await server.DeployAsync("first-" + runtime, runtime, code);
        var result = await server.InvokeAsync("first-" + runtime, """{"n":41}""");

        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal(42, result.GetProperty("output").GetInt32());
        var functionId = Guid.Parse(function.GetProperty("id").GetString()!);
        Assert.Contains(Assert.Single(executor.GetWorkerProcessIds(functionId)), startedBefore);
        var logs = await server.GetJsonAsync($"api/executions/{result.GetProperty("execution_id").GetString()}/logs");
        Assert.Equal("first", Assert.Single(logs.EnumerateArray()).GetProperty("message").GetString());
        var on = Assert.Single(server.Logs.Records, r => r.EventId.Id == 1108);
        Assert.Equal(LogLevel.Information, on.Level);
        Assert.Contains("2 per runtime for", on.Message);
    }

    [Fact]
    public async Task PrestartedWorkersZero_StartsNone_SaysSo_AndFunctionsStillRun()
    {
        await using var server = await ServerHarness.StartAsync(new Dictionary<string, string?>
        {
            ["PRESTARTED_WORKERS"] = "0",
        });
        var executor = Assert.IsType<ProcessExecutor>(server.Services.GetRequiredService<IExecutor>());

        await server.DeployAsync("no-pool", "python", "def handler(event):\n    return 'ran'\n");
        var result = await server.InvokeAsync("no-pool");

        Assert.Equal("ran", result.GetProperty("output").GetString());
        Assert.Empty(executor.GetGenericWorkerProcessIds("python"));
        var off = Assert.Single(server.Logs.Records, r => r.EventId.Id == 1109);
        Assert.Equal(
            "Pre-started workers are off: PrestartedWorkersPerRuntime (PRESTARTED_WORKERS in the server) is 0.",
            off.Message);
    }
}
