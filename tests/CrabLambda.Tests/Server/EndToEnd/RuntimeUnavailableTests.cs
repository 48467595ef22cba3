using System.Net;
using CrabLambda.Tests.Infrastructure;
using static CrabLambda.Tests.Server.EndToEnd.FunctionRoutesEndToEndTests;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>A server whose Node.js interpreter is a program that fails when asked about itself.</summary>
public sealed class RuntimeUnavailableTests
{
    [Fact]
    public async Task Invoke_InterpreterBroken_Is503SayingWhyAndRecordsNothing()
    {
        var variables = new Dictionary<string, string?> { ["CRABLAMBDA_NODE"] = "/bin/false" };
        var server = await ServerHarness.StartAsync(variables);
        await using var _ = server;
        await server.DeployAsync("broken-node", "node", FunctionCode.NodeQuickStart);

        var response = await server.Http.PostAsync("api/functions/broken-node/invoke", new StringContent("{}"));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("Runtime unavailable", problem.GetProperty("title").GetString());
        Assert.Contains("/bin/false", problem.GetProperty("detail").GetString());
        var history = await server.GetJsonAsync("api/functions/broken-node/executions");
        Assert.Equal(0, history.GetArrayLength());
    }
}
