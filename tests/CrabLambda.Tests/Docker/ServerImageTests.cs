using System.Globalization;
using System.Net;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;
using CrabLambda.Tests.Server.EndToEnd;

namespace CrabLambda.Tests.Docker;

/// <summary>
/// The server image run as a container and driven over HTTP as the quick start is, on its own with SQLite in its
/// volume and with PostgreSQL through the compose file; and the compose file as Compose reads it.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class ServerImageTests(DockerEngine engine, ServerImage server) : IClassFixture<ServerImage>
{
    private const string PostgresImage = "crablambda/postgres:local";

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task ServerImage_Run_AnswersThePythonAndNodeQuickStartsAndKeepsItsDataInTheVolume()
    {
        engine.Require();
        Tools.Require("docker");
        var image = await server.GetAsync();
        var container = $"crablambda-server-test-{_suffix}";
        try
        {
            await Commands.RunAsync("docker", ["run", "-d", "--name", container, "-p", "127.0.0.1::8080", image]);
            using var http = await ConnectAsync(container);

            var python = await QuickStartAsync(http, "hello-py", "python", FunctionCode.PythonQuickStart);
            var node = await QuickStartAsync(http, "hello-node", "node", FunctionCode.NodeQuickStart);

            // The SQLite file is in the volume, so the functions outlive a restart of the container.
            await Commands.RunAsync("docker", ["restart", container]);
            using var restarted = await ConnectAsync(container);
            var listed = await ServerHarness.ExpectAsync(
                await restarted.GetAsync("api/functions"),
                HttpStatusCode.OK);
            var again = await InvokeAsync(restarted, "hello-py");
            var health = await WaitForHealthAsync(container);
            var settings = await Commands.RunAsync(
                "docker",
                ["inspect", "--format", "{{.Config.User}} {{range .Mounts}}{{.Destination}}{{end}}", container]);

            Assert.Equal("success", python.GetProperty("status").GetString());
            Assert.Equal("Hello, CrabLambda!", python.GetProperty("output").GetString());
            Assert.Equal("Hello, CrabLambda!", node.GetProperty("output").GetString());
            Assert.Equal(2, listed.GetProperty("total").GetInt32());
            Assert.Equal("Hello, CrabLambda!", again.GetProperty("output").GetString());
            Assert.Equal("healthy", health);
            Assert.Equal("1654 /data", settings.Trim());
        }
        finally
        {
            await Commands.RunQuietlyAsync("docker", ["rm", "-f", "-v", container]);
        }
    }

    [Fact]
    public async Task ComposeUp_WithTheServerImage_ServesTheQuickStartFromPostgresOnceItIsHealthy()
    {
        engine.Require();
        Tools.Require("docker");
        var compose = await Commands.FindComposeAsync();
        var image = await server.GetAsync();
        await Commands.RunAsync("bash", ["scripts/docker/build-postgres-image.sh"]);
        var port = ServerProcess.FreePort();
        var variables = new Dictionary<string, string>
        {
            ["CRABLAMBDA_IMAGE"] = image,
            ["POSTGRES_IMAGE"] = PostgresImage,
            ["CRABLAMBDA_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["POSTGRES_PASSWORD"] = "pw-" + _suffix,
        };
        string[] project = [.. compose[1..], "--project-name", $"crablambdatest{_suffix}"];
        try
        {
            await Commands.RunAsync(compose[0], [.. project, "up", "-d", "--no-build"], environment: variables);
            using var http = await ConnectAsync(port, () => Commands.RunQuietlyAsync(
                compose[0],
                [.. project, "logs", "--no-color"],
                variables));

            var python = await QuickStartAsync(http, "hello-py", "python", FunctionCode.PythonQuickStart);
            var execution = await ServerHarness.ExpectAsync(
                await http.GetAsync($"api/executions/{python.GetProperty("execution_id").GetString()}"),
                HttpStatusCode.OK);
            var postgres = await Commands.RunAsync(compose[0], [.. project, "ps", "-q", "postgres"], null, variables);
            var health = await Commands.RunAsync(
                "docker",
                ["inspect", "--format", "{{.State.Health.Status}}", postgres.Trim()]);
            var logs = await Commands.RunAsync(
                compose[0],
                [.. project, "logs", "--no-color", "server"],
                null,
                variables);

            Assert.Equal("Hello, CrabLambda!", python.GetProperty("output").GetString());
            Assert.Equal("success", execution.GetProperty("status").GetString());
            Assert.Equal("healthy", health.Trim());
            Assert.Contains("Storage: PostgreSQL", logs, StringComparison.Ordinal);
        }
        finally
        {
            await Commands.RunQuietlyAsync(compose[0], [.. project, "down", "-v"], variables);
        }
    }

    [Fact]
    public async Task ComposeFile_Config_PointsTheServerAtAHealthyPostgresWithAVolume()
    {
        var compose = await Commands.FindComposeAsync();

        var config = await Commands.RunAsync(compose[0], [.. compose[1..], "config"]);

        Assert.Contains("DATABASE_URL: postgresql://crablambda:", config, StringComparison.Ordinal);
        Assert.Contains("@postgres:5432/crablambda", config, StringComparison.Ordinal);
        Assert.Contains("condition: service_healthy", config, StringComparison.Ordinal);
        Assert.Contains("pg_isready", config, StringComparison.Ordinal);
        // Compose v1 writes a volume as source:target, v2 as a mapping with source and target.
        Assert.Contains("postgres-data", config, StringComparison.Ordinal);
        Assert.Contains("/var/lib/postgresql/data", config, StringComparison.Ordinal);
        Assert.Contains("image: postgres:17", config, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> QuickStartAsync(HttpClient http, string name, string runtime, string code)
    {
        var body = JsonSerializer.Serialize(new { name, runtime, handler = "handler", code });
        await ServerHarness.ExpectAsync(
            await http.PostAsync("api/functions", new StringContent(body)),
            HttpStatusCode.Created);

        var result = await InvokeAsync(http, name);
        var logs = await ServerHarness.ExpectAsync(
            await http.GetAsync($"api/executions/{result.GetProperty("execution_id").GetString()}/logs"),
            HttpStatusCode.OK);
        Assert.Equal("greeting CrabLambda", Assert.Single(logs.EnumerateArray()).GetProperty("message").GetString());
        return result;
    }

    private static async Task<JsonElement> InvokeAsync(HttpClient http, string name) =>
        await ServerHarness.ExpectAsync(
            await http.PostAsync($"api/functions/{name}/invoke", new StringContent("""{"name":"CrabLambda"}""")),
            HttpStatusCode.OK);

    // The engine picks the published port at each start of the container.
    private static async Task<HttpClient> ConnectAsync(string container)
    {
        var published = await Commands.RunAsync("docker", ["port", container, "8080/tcp"]);
        var port = int.Parse(published.Trim().Split('\n')[0].Split(':')[^1], CultureInfo.InvariantCulture);
        return await ConnectAsync(port, () => Commands.RunQuietlyAsync("docker", ["logs", container]));
    }

    // A client of the server on the port, once it is ready; the logs are in the failure when it never is.
    private static async Task<HttpClient> ConnectAsync(int port, Func<Task<string>> logs)
    {
        var http = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
            Timeout = TimeSpan.FromMinutes(1),
        };

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync("health/ready");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return http;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(250);
        }

        http.Dispose();
        Assert.Fail($"the server in the container did not get ready on port {port} in 90 s:\n{await logs()}");
        return null!;
    }

    // The image's HEALTHCHECK runs every 15 s; the first one passes once the server is ready.
    private static async Task<string> WaitForHealthAsync(string container)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var status = "";
        while (DateTime.UtcNow < deadline)
        {
            status = (await Commands.RunAsync(
                "docker",
                ["inspect", "--format", "{{.State.Health.Status}}", container])).Trim();
            if (status is "healthy" or "unhealthy")
            {
                break;
            }

            await Task.Delay(1000);
        }

        return status;
    }
}
