using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;
using static CrabLambda.Tests.Server.EndToEnd.FunctionRoutesEndToEndTests;

namespace CrabLambda.Tests.Server.EndToEnd;

public sealed class RustEndToEndTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string QuickStart =
        """
        fn handler(event: Value) -> String {
            let name = event["name"].as_str().unwrap_or("world");
            println!("greeting {}", name);
            format!("Hello, {}!", name)
        }
        """;

    private ServerHarness Server => fixture.Server;

    [Fact]
    public async Task QuickStart_Rust_CompilesAtDeployAndAnswersTheGreeting()
    {
        await Server.DeployAsync("hello-rust", "rust", QuickStart);

        var result = await Server.InvokeAsync("hello-rust", """{"name":"CrabLambda"}""");

        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal("Hello, CrabLambda!", result.GetProperty("output").GetString());
        var logs = await Server.GetJsonAsync($"api/executions/{result.GetProperty("execution_id")}/logs");
        Assert.Equal("greeting CrabLambda", Assert.Single(logs.EnumerateArray()).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Create_RustThatDoesNotCompile_Is422WithTheCompilersMessageAndStoresNothing()
    {
        var body = JsonSerializer.Serialize(new
        {
            name = "broken-rust",
            runtime = "rust",
            handler = "handler",
            code = "fn handler(event: Value) -> String {\n    undefined_name\n}\n",
        });

        var response = await Server.Http.PostAsync("api/functions", new StringContent(body, Encoding.UTF8));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("undefined_name", problem.GetProperty("detail").GetString());
        await ExpectProblemAsync(await Server.Http.GetAsync("api/functions/broken-rust"), HttpStatusCode.NotFound);
    }
}
