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
            try
            {
                await server.WaitForExitAsync(exited.Token);
            }
            catch (OperationCanceledException)
            {
                lock (output)
                {
                    Assert.Fail($"the server did not exit within 90 s of SIGINT; output:\n{output}");
                }
            }

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
    public async Task ServerProcess_DatabaseUnreachable_ExitsWith1SayingWhyInOneLine()
    {
        var port = FreePort();
        var (exitCode, errors, output) = await RunUntilExitAsync(new Dictionary<string, string>
        {
            ["SERVER_PORT"] = FreePort().ToString(),
            ["DATABASE_URL"] = $"postgresql://crab:hunter2@127.0.0.1:{port}/crablambda",
        });

        Assert.Equal(1, exitCode);
        var line = AssertOneLine(errors, output);
        Assert.StartsWith(
            "CrabLambda could not start: DATABASE_URL names the PostgreSQL database crablambda on "
                + $"127.0.0.1:{port} as crab, which cannot be used: ",
            line);
        Assert.Contains("Connection refused", line);
        Assert.DoesNotContain("hunter2", errors + output);
    }

    [Fact]
    public async Task ServerProcess_SqliteFileIsNotADatabase_ExitsWith1SayingWhyInOneLine()
    {
        var file = Path.Combine(_directory, "notes.db");
        File.WriteAllText(file, "shopping list: eggs, flour, more eggs\n");

        var (exitCode, errors, output) = await RunUntilExitAsync(new Dictionary<string, string>
        {
            ["SERVER_PORT"] = FreePort().ToString(),
            ["DATABASE_URL"] = "sqlite:notes.db",
        });

        Assert.Equal(1, exitCode);
        var line = AssertOneLine(errors, output);
        Assert.Equal(
            $"CrabLambda could not start: DATABASE_URL names the SQLite file {file}, which cannot be used: "
                + "SQLite Error 26: 'file is not a database'.",
            line);
    }

    [Fact]
    public async Task ServerProcess_SqliteFolderCannotBeMade_ExitsWith1NamingTheVariable()
    {
        File.WriteAllText(Path.Combine(_directory, "a-file"), "");

        var (exitCode, errors, output) = await RunUntilExitAsync(new Dictionary<string, string>
        {
            ["SERVER_PORT"] = FreePort().ToString(),
            ["DATABASE_URL"] = "sqlite:a-file/crablambda.db",
        });

        Assert.Equal(1, exitCode);
        Assert.Contains("DATABASE_URL names the SQLite file", errors);
        Assert.Contains("whose folder cannot be made", errors);
        Assert.DoesNotContain("   at ", errors + output);
    }

    private async Task<(int ExitCode, string Errors, string Output)> RunUntilExitAsync(
        IReadOnlyDictionary<string, string> variables)
    {
        using var server = Process.Start(StartInfo(variables))!;
        var errors = server.StandardError.ReadToEndAsync();
        var output = server.StandardOutput.ReadToEndAsync();
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await server.WaitForExitAsync(exited.Token);
        return (server.ExitCode, await errors, await output);
    }

    // One line on stderr and nothing on stdout: no stack trace, no log of the host's failed start.
    private static string AssertOneLine(string errors, string output)
    {
        Assert.True(output.Length == 0, $"the server wrote to stdout:\n{output}");
        var lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"the server wrote {lines.Length} lines to stderr:\n{errors}");
        return lines[0];
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

/// <summary>
/// The server process started on a PostgreSQL server that answers but has no such database.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ServerProcessPostgresTests(PostgresServer postgres) : IDisposable
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
    public async Task ServerProcess_DatabaseMissing_ExitsWith1SayingSoInOneLine()
    {
        var url = await postgres.CreateDatabaseUrlAsync();
        var missing = url[..(url.LastIndexOf('/') + 1)] + "no_such_database";
        var start = ServerProcess.StartInfo(
            _directory,
            new Dictionary<string, string>
            {
                ["SERVER_PORT"] = ServerProcess.FreePort().ToString(),
                ["DATABASE_URL"] = missing,
            });

        using var server = Process.Start(start)!;
        var errors = server.StandardError.ReadToEndAsync();
        var output = server.StandardOutput.ReadToEndAsync();
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await server.WaitForExitAsync(exited.Token);

        Assert.Equal(1, server.ExitCode);
        Assert.Equal("", await output);
        var line = Assert.Single((await errors).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(
            "CrabLambda could not start: DATABASE_URL names the PostgreSQL database no_such_database",
            line);
        Assert.Contains("3D000: database \"no_such_database\" does not exist", line);
    }
}
