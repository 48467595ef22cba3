using System.Text.RegularExpressions;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// What server processes leave on the host: their control groups and their executors' folders in a work directory
/// that several servers share. Each server runs in a folder of its own with <c>TMPDIR</c> pointing at a shared one,
/// so that their work directory is the same one under it.
/// </summary>
public sealed class ServerLeftoverTests : IDisposable
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    private const string Hello = "def handler(event):\n    return 'hi'\n";

    private readonly string _folder = Directory.CreateTempSubdirectory("crablambda-leftovers-").FullName;

    private string SharedTemp => Path.Combine(_folder, "tmp");

    private string WorkDirectory => Path.Combine(SharedTemp, "crablambda");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Left in the temp folder; nothing depends on it.
        }
    }

    [Fact]
    public async Task Start_AfterAServerWasKilled_RemovesWhatItLeftButNothingOfALiveServer_AndStopsRemoveTheirOwn()
    {
        Directory.CreateDirectory(SharedTemp);
        var variables = new Dictionary<string, string> { ["TMPDIR"] = SharedTemp, ["ISOLATION"] = "sandbox" };

        await using var neighbour = await StartAsync("neighbour", variables);
        await InvokeHelloAsync(neighbour);
        var neighbourFolders = ExecutorFolders();
        await using var killed = await StartAsync("killed", variables);
        await InvokeHelloAsync(killed);
        var killedFolder = Assert.Single(ExecutorFolders().Except(neighbourFolders));
        var killedGroups = ServerGroupFolders(killed.Pid);
        Assert.NotEmpty(killedGroups);
        Assert.NotEmpty(ServerGroupFolders(neighbour.Pid));

        killed.Signal(SigKill);
        await killed.WaitForExitAsync();
        Assert.True(Directory.Exists(killedFolder), "the killed server's folder is expected to be left behind");
        Assert.All(killedGroups, folder => Assert.True(Directory.Exists(folder)));

        await using var next = await StartAsync("next", variables);

        Assert.False(Directory.Exists(killedFolder), $"{killedFolder} is left; the output:\n{next.Output}");
        Assert.False(File.Exists(killedFolder + ".lock"));
        Assert.All(killedGroups, folder => Assert.False(Directory.Exists(folder), $"{folder} is left"));
        Assert.Contains(
            $"Removed the work folders of 1 executors of servers that are gone: {Path.GetFileName(killedFolder)}",
            next.Output);
        // The control groups are the host's, and any server started meanwhile, this test's or another's, may be the one
        // that removed them; the work folder above is this test's alone, so its message is this server's.
        Assert.All(neighbourFolders, folder => Assert.True(Directory.Exists(folder), $"{folder} of a live server"));
        Assert.NotEmpty(ServerGroupFolders(neighbour.Pid));
        await InvokeHelloAsync(neighbour);

        // Stopped as an operator does, each removes its own.
        foreach (var server in new[] { next, neighbour })
        {
            server.Signal(SigTerm);
            Assert.Equal(0, await server.WaitForExitAsync());
            Assert.Empty(ServerGroupFolders(server.Pid));
        }

        Assert.Empty(Directory.GetFileSystemEntries(WorkDirectory, "executor-*"));
    }

    private async Task<RunningServerProcess> StartAsync(string name, Dictionary<string, string> variables)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_folder, name)).FullName;
        return await RunningServerProcess.StartAsync(directory, variables);
    }

    private static async Task InvokeHelloAsync(RunningServerProcess server)
    {
        var functions = await server.Http.GetStringAsync("api/functions");
        if (!functions.Contains("\"hello\"", StringComparison.Ordinal))
        {
            await server.DeployPythonAsync("hello", Hello);
        }

        var result = await server.InvokeAsync("hello", "{}");
        Assert.Equal("hi", result.GetProperty("output").GetString());
    }

    private string[] ExecutorFolders() => Directory.Exists(WorkDirectory)
        ? Directory.GetDirectories(WorkDirectory, "executor-*")
        : [];

    // A server's folders in the control group hierarchies it shares with this test, whose groups it inherited.
    private static string[] ServerGroupFolders(int pid)
    {
        var mounts = CgroupMounts.Read();
        string[] parents = mounts.V1.ContainsKey("memory")
            ? [mounts.V1["memory"], mounts.V1["pids"], mounts.V1["cpu"]]
            : [mounts.Unified!];
        // crablambda-NS-PID-START, or crablambda-PID as servers named it before.
        var name = new Regex($"^crablambda-([0-9]+-)?{pid}(-[0-9]+)?$");
        return parents
            .SelectMany(Directory.GetDirectories)
            .Where(folder => name.IsMatch(Path.GetFileName(folder)))
            .ToArray();
    }
}
