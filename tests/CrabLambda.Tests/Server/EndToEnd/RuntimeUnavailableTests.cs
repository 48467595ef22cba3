using System.Net;
using System.Text.Json;
using CrabLambda.Runtimes.Rust;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static CrabLambda.Tests.Server.EndToEnd.FunctionRoutesEndToEndTests;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Servers whose runtime cannot run: an interpreter that fails when asked about itself; no Rust toolchain.
/// </summary>
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

    [Fact]
    public async Task Deploy_RustWithoutAToolchain_Is503SayingWhatToInstallAndMakesNoFunction()
    {
        var toolchain = Directory.CreateTempSubdirectory("crablambda-no-rust-").FullName;
        try
        {
            // A cache of its own: a binary of the same code that another server built would be reused, and rightly.
            var server = await ServerHarness.StartAsync(configure: builder =>
                builder.Services.Configure<RustRuntimeOptions>(o =>
                {
                    o.ToolchainDirectory = toolchain;
                    o.CacheDirectory = Path.Combine(toolchain, "cache");
                    o.WarmUpOnStart = false;
                }));
            await using var _ = server;
            var body = JsonSerializer.Serialize(new
            {
                name = "no-rust",
                runtime = "rust",
                handler = "handler",
                code = "fn handler(event: Value) -> Value { event }",
            });

            var response = await server.Http.PostAsync("api/functions", new StringContent(body));

            var problem = await ExpectProblemAsync(response, HttpStatusCode.ServiceUnavailable);
            Assert.Equal("Runtime unavailable", problem.GetProperty("title").GetString());
            Assert.Contains("has no bin/cargo and bin/rustc", problem.GetProperty("detail").GetString());
            Assert.Contains("apt-get install -y cargo rustc", problem.GetProperty("detail").GetString());
            await ExpectProblemAsync(await server.Http.GetAsync("api/functions/no-rust"), HttpStatusCode.NotFound);
        }
        finally
        {
            Directory.Delete(toolchain, recursive: true);
        }
    }
}
