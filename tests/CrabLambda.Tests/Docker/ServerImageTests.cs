using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;
using CrabLambda.Tests.Server.EndToEnd;

namespace CrabLambda.Tests.Docker;

/// <summary>
/// The repository's <c>Dockerfile</c> built into a server image and run as a container, driven over HTTP as the
/// quick start is; and the compose file as Compose reads it. With no registry the build uses the base images that
/// <c>scripts/docker/build-server-base-images.sh</c> makes from this machine's own .NET, python3 and node.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class ServerImageTests(DockerEngine engine)
{
    private const string SdkBase = "crablambda/dotnet-sdk:local";
    private const string RuntimeBase = "crablambda/aspnet:local";
    private static readonly TimeSpan s_buildTimeout = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan s_stepTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task ServerImage_FromTheDockerfile_RunsThePythonAndNodeQuickStartsAndKeepsItsDataInTheVolume()
    {
        engine.Require();
        var docker = Tools.Require("docker");
        var repository = FindRepository();
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var image = $"crablambda/server-test:{suffix}";
        var buildStage = $"crablambda/server-test:{suffix}-build";
        var container = $"crablambda-server-test-{suffix}";
        string[] baseImages = ["--build-arg", $"SDK_IMAGE={SdkBase}", "--build-arg", $"RUNTIME_IMAGE={RuntimeBase}"];

        await RunAsync("bash", ["scripts/docker/build-server-base-images.sh"], repository, s_buildTimeout);
        try
        {
            // The build stage gets a name of its own, so that removing it at the end leaves no image behind.
            await RunAsync(docker, ["build", .. baseImages, "--target", "build", "-t", buildStage, "."], repository,
                s_buildTimeout);
            await RunAsync(docker, ["build", .. baseImages, "-t", image, "."], repository, s_buildTimeout);
            await RunAsync(docker, ["run", "-d", "--name", container, "-p", "127.0.0.1::8080", image], repository,
                s_stepTimeout);
            using var http = await ConnectAsync(docker, container, repository);

            var python = await QuickStartAsync(http, "hello-py", "python", FunctionCode.PythonQuickStart);
            var node = await QuickStartAsync(http, "hello-node", "node", FunctionCode.NodeQuickStart);

            // The SQLite file is in the volume, so the functions outlive a restart of the container.
            await RunAsync(docker, ["restart", container], repository, s_stepTimeout);
            using var restarted = await ConnectAsync(docker, container, repository);
            var listed = await ServerHarness.ExpectAsync(
                await restarted.GetAsync("api/functions"),
                HttpStatusCode.OK);
            var again = await InvokeAsync(restarted, "hello-py");
            var health = await WaitForHealthAsync(docker, container, repository);
            var settings = await RunAsync(
                docker,
                ["inspect", "--format", "{{.Config.User}} {{range .Mounts}}{{.Destination}}{{end}}", container],
                repository,
                s_stepTimeout);

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
            await RunQuietlyAsync(docker, ["rm", "-f", "-v", container], repository);
            await RunQuietlyAsync(docker, ["rmi", image, buildStage], repository);
        }
    }

    [Fact]
    public async Task ComposeFile_Config_PointsTheServerAtAHealthyPostgresWithAVolume()
    {
        var repository = FindRepository();
        var compose = await FindComposeAsync(repository);

        var config = await RunAsync(compose[0], [.. compose[1..], "config"], repository, s_stepTimeout);

        Assert.Contains("DATABASE_URL: postgresql://crablambda:", config, StringComparison.Ordinal);
        Assert.Contains("@postgres:5432/crablambda", config, StringComparison.Ordinal);
        Assert.Contains("condition: service_healthy", config, StringComparison.Ordinal);
        Assert.Contains("pg_isready", config, StringComparison.Ordinal);
        Assert.Contains("/var/lib/postgresql/data", config, StringComparison.Ordinal);
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

    // The engine picks the published port at each start; the client is for the container's current one, once ready.
    private static async Task<HttpClient> ConnectAsync(string docker, string container, string directory)
    {
        var published = await RunAsync(docker, ["port", container, "8080/tcp"], directory, s_stepTimeout);
        var port = int.Parse(published.Trim().Split('\n')[0].Split(':')[^1], CultureInfo.InvariantCulture);
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
        var logs = await RunQuietlyAsync(docker, ["logs", container], directory);
        Assert.Fail($"the server in the container did not get ready on port {port} in 90 s:\n{logs}");
        return null!;
    }

    // The image's HEALTHCHECK runs every 15 s; the first one passes once the server is ready.
    private static async Task<string> WaitForHealthAsync(string docker, string container, string directory)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var status = "";
        while (DateTime.UtcNow < deadline)
        {
            status = (await RunAsync(
                docker,
                ["inspect", "--format", "{{.State.Health.Status}}", container],
                directory,
                s_stepTimeout)).Trim();
            if (status is "healthy" or "unhealthy")
            {
                break;
            }

            await Task.Delay(1000);
        }

        return status;
    }

    // Compose v2 as a plug-in of the client, or the stand-alone docker-compose.
    private static async Task<string[]> FindComposeAsync(string directory)
    {
        if ((Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(folder => File.Exists(Path.Combine(folder, "docker-compose"))))
        {
            return ["docker-compose"];
        }

        var (exitCode, _) = await ExecuteAsync("docker", ["compose", "version"], directory, s_stepTimeout);
        Assert.True(
            exitCode == 0,
            "Neither docker-compose nor docker compose is installed; this test needs one (scripts/test.sh installs "
                + "docker-compose).");
        return ["docker", "compose"];
    }

    private static string FindRepository()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CrabLambda.sln")))
        {
            directory = directory.Parent;
        }

        Assert.True(directory is not null, "The test runs outside the repository it was built from.");
        return directory!.FullName;
    }

    private static async Task<string> RunAsync(
        string program,
        IReadOnlyList<string> arguments,
        string directory,
        TimeSpan timeout)
    {
        var (exitCode, output) = await ExecuteAsync(program, arguments, directory, timeout);
        Assert.True(
            exitCode == 0,
            $"{program} {string.Join(' ', arguments)} failed with exit code {exitCode}:\n{output}");
        return output;
    }

    // Clean-up: a failure is in the output, and the test's own result stands.
    private static async Task<string> RunQuietlyAsync(string program, IReadOnlyList<string> arguments, string directory)
    {
        try
        {
            return (await ExecuteAsync(program, arguments, directory, s_stepTimeout)).Output;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return e.Message;
        }
    }

    private static async Task<(int ExitCode, string Output)> ExecuteAsync(
        string program,
        IReadOnlyList<string> arguments,
        string directory,
        TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var stdout = PumpAsync(process.StandardOutput, output);
        var stderr = PumpAsync(process.StandardError, output);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
            await Task.WhenAll(stdout, stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"did not finish in {timeout}:\n{output}");
        }

        return (process.ExitCode, output.ToString());
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder into)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (into)
            {
                into.AppendLine(line);
            }
        }
    }
}
