using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Runs the server as its own process, the way an operator does, and stops it with Ctrl-C.
/// </summary>
public sealed class ServerProcessTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("crablambda-process-").FullName;

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
    public async Task ServerProcess_DeployInvokeThenSigint_ExitsCleanlyAndLeavesNoWorker()
    {
        Tools.Require("python3");
        var port = FreePort();

        // The port comes from .env alone; the memory default from both, and the real environment wins.
        File.WriteAllText(
            Path.Combine(_directory, ".env"),
            $"SERVER_PORT={port}\nDEFAULT_MEMORY_MB=64\n");
        var start = StartInfo(new Dictionary<string, string> { ["DEFAULT_MEMORY_MB"] = "96" });
        var output = new StringBuilder();

        using var server = Process.Start(start)!;
        server.OutputDataReceived += (_, e) => Append(output, e.Data);
        server.ErrorDataReceived += (_, e) => Append(output, e.Data);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
                Timeout = TimeSpan.FromMinutes(2),
            };
            await WaitUntilReadyAsync(http, server, output);

            var deploy = await http.PostAsync(
                "api/functions",
                new StringContent(
                    """
                    {"name":"hello","runtime":"python","handler":"handler","code":"def handler(e):\n    return 'hi'\n"}
                    """));
            var function = await ServerHarness.ExpectAsync(deploy, HttpStatusCode.Created);
            Assert.Equal(96, function.GetProperty("memory_mb").GetInt32());
            var result = await ServerHarness.ExpectAsync(
                await http.PostAsync("api/functions/hello/invoke", null),
                HttpStatusCode.OK);
            Assert.Equal("hi", result.GetProperty("output").GetString());
            var workers = ServerProcess.Descendants(server.Id);
            Assert.NotEmpty(workers);

            await SendSigintAsync(server.Id);
            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await server.WaitForExitAsync(exited.Token);

            Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode}; output:\n{output}");
            var left = workers.Where(p => ServerProcess.IsAlive(p.Pid, p.CommandLine)).ToArray();
            Assert.True(left.Length == 0, "workers left running: " + string.Join(", ", left));
            Assert.True(File.Exists(Path.Combine(_directory, "crablambda.db")), "the default SQLite file is missing");
            var log = output.ToString();
            Assert.Contains($"127.0.0.1:{port}", log);
            Assert.Contains("SQLite file", log);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task ServerProcess_BadConfiguration_ExitsWith1NamingEachVariable()
    {
        var start = StartInfo(new Dictionary<string, string>
        {
            ["SERVER_PORT"] = "abc",
            ["MAX_TIMEOUT_SECS"] = "5000",
            ["DATABASE_URL"] = "mysql://admin:hunter2@localhost/db",
        });

        using var server = Process.Start(start)!;
        var errors = server.StandardError.ReadToEndAsync();
        var output = server.StandardOutput.ReadToEndAsync();
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await server.WaitForExitAsync(exited.Token);

        Assert.Equal(1, server.ExitCode);
        var message = await errors;
        Assert.Contains("SERVER_PORT=abc", message);
        Assert.Contains("MAX_TIMEOUT_SECS=5000", message);
        Assert.Contains("DATABASE_URL", message);
        Assert.DoesNotContain("hunter2", message + await output);
    }

    [Fact]
    public async Task ServerProcess_DatabaseUnreachable_ExitsWith1SayingWhy()
    {
        var start = StartInfo(new Dictionary<string, string>
        {
            ["SERVER_PORT"] = FreePort().ToString(),
            ["DATABASE_URL"] = $"postgresql://crab:hunter2@127.0.0.1:{FreePort()}/crablambda",
        });

        using var server = Process.Start(start)!;
        var errors = server.StandardError.ReadToEndAsync();
        var output = server.StandardOutput.ReadToEndAsync();
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await server.WaitForExitAsync(exited.Token);

        Assert.Equal(1, server.ExitCode);
        var message = await errors;
        Assert.Contains("could not start", message);
        Assert.DoesNotContain("hunter2", message + await output);
    }

    private ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> variables) =>
        ServerProcess.StartInfo(_directory, variables);

    private static int FreePort() => ServerProcess.FreePort();

    private static Task WaitUntilReadyAsync(HttpClient http, Process server, StringBuilder output) =>
        ServerProcess.WaitUntilReadyAsync(http, server, output);

    private static void Append(StringBuilder output, string? line) => ServerProcess.Append(output, line);

    private static async Task SendSigintAsync(int pid)
    {
        using var kill = Process.Start("kill", ["-INT", pid.ToString()]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}
