using System.Diagnostics;
using System.Net;
using System.Text;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Docker;

/// <summary>
/// A server with <c>EXECUTOR=docker</c> killed with SIGKILL leaves its containers behind; started again where it ran,
/// it removes them before it serves.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerLeftoverTests(DockerEngine engine) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("crablambda-docker-").FullName;

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
    public async Task Restart_AfterTheServerWasKilled_RemovesTheContainersItLeft()
    {
        engine.Require();
        var first = Start(out var firstOutput, out var firstHttp);
        string functionId;
        try
        {
            await ServerProcess.WaitUntilReadyAsync(firstHttp, first, firstOutput);
            const string Body =
                """{"name":"left","runtime":"python","handler":"h","code":"def h(e):\n    return 1\n"}""";
            var deploy = await firstHttp.PostAsync("api/functions", new StringContent(Body));
            var created = await ServerHarness.ExpectAsync(deploy, HttpStatusCode.Created);
            functionId = created.GetProperty("id").GetString()!;
            var invoke = await firstHttp.PostAsync("api/functions/left/invoke", null);
            await ServerHarness.ExpectAsync(invoke, HttpStatusCode.OK);

            first.Kill();
            await first.WaitForExitAsync();
        }
        finally
        {
            Stop(first, firstHttp);
        }

        var left = await engine.ContainersLabelledAsync("crablambda.function", functionId);
        var second = Start(out var secondOutput, out var secondHttp);
        try
        {
            await ServerProcess.WaitUntilReadyAsync(secondHttp, second, secondOutput);
            var afterRestart = await engine.ContainersLabelledAsync("crablambda.function", functionId);
            var invoked = await ServerHarness.ExpectAsync(
                await secondHttp.PostAsync("api/functions/left/invoke", null),
                HttpStatusCode.OK);

            Assert.Single(left);
            Assert.Empty(afterRestart);
            Assert.Contains("Removed 1 container(s)", secondOutput.ToString());
            Assert.Equal("success", invoked.GetProperty("status").GetString());
        }
        finally
        {
            Stop(second, secondHttp);
        }

        Assert.Empty(await engine.ContainersLabelledAsync("crablambda.function", functionId));
    }

    private Process Start(out StringBuilder output, out HttpClient http)
    {
        var port = ServerProcess.FreePort();
        var variables = engine.ServerVariables.ToDictionary(v => v.Key, v => v.Value!);
        variables["SERVER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var server = Process.Start(ServerProcess.StartInfo(_directory, variables))!;
        var lines = new StringBuilder();
        server.OutputDataReceived += (_, e) => ServerProcess.Append(lines, e.Data);
        server.ErrorDataReceived += (_, e) => ServerProcess.Append(lines, e.Data);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        output = lines;
        http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(2) };
        return server;
    }

    // A clean stop, so that the server removes its own containers.
    private static void Stop(Process server, HttpClient http)
    {
        http.Dispose();
        if (!server.HasExited)
        {
            var pid = server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            using var kill = Process.Start("kill", ["-TERM", pid]);
            kill.WaitForExit();
            if (!server.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                server.Kill(entireProcessTree: true);
            }
        }

        server.Dispose();
    }
}
