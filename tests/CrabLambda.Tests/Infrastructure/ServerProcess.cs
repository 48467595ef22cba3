using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// Runs the built server as a process of its own, the way an operator does.
/// </summary>
public static class ServerProcess
{
    /// <summary>How to start the built server in <paramref name="directory"/> with only the given variables.</summary>
    public static ProcessStartInfo StartInfo(string directory, IReadOnlyDictionary<string, string> variables)
    {
        // As from a terminal: a test run started in the background by a script has SIGINT ignored, and a program
        // inherits that, so the server would never see the Ctrl-C a test sends. env resets it and execs in place.
        var start = new ProcessStartInfo("env", ["--default-signal=INT", "dotnet", ServerAssembly()])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // Only what the test sets: nothing of the test run's own environment may configure the server.
        foreach (var name in new[] { "DATABASE_URL", "SERVER_PORT", "ENABLE_AUTH", "API_KEY", "ASPNETCORE_URLS" })
        {
            start.Environment.Remove(name);
        }

        start.Environment["SERVER_HOST"] = "127.0.0.1";
        foreach (var (name, value) in variables)
        {
            start.Environment[name] = value;
        }

        return start;
    }

    // The server's build output beside the tests' own, in the same configuration.
    private static string ServerAssembly()
    {
        var testDirectory = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var framework = Path.GetFileName(testDirectory);
        var configuration = Path.GetFileName(Path.GetDirectoryName(testDirectory)!);
        var root = new DirectoryInfo(testDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "CrabLambda.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        var path = Path.Combine(
            root.FullName, "src", "CrabLambda.Server", "bin", configuration, framework, "CrabLambda.Server.dll");
        Assert.True(File.Exists(path), $"the server is not built at {path}");
        return path;
    }

    /// <summary>A loopback port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits until the server answers its readiness probe, failing if it exits first.</summary>
    public static async Task WaitUntilReadyAsync(HttpClient http, Process server, StringBuilder output)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (true)
        {
            Assert.False(server.HasExited, $"the server exited early:\n{output}");
            try
            {
                var response = await http.GetAsync("health/ready", timeout.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200, timeout.Token);
        }
    }

    /// <summary>Adds a line of the server's output, from either stream.</summary>
    public static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    /// <summary>Every process below <paramref name="root"/>, found through the parent ids in /proc.</summary>
    public static List<(int Pid, string CommandLine)> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), out var pid) && ParentOf(pid) is { } parent)
            {
                parents[pid] = parent;
            }
        }

        var found = new List<(int, string)>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var current))
        {
            foreach (var (pid, parent) in parents)
            {
                if (parent == current)
                {
                    found.Add((pid, CommandLine(pid)));
                    frontier.Enqueue(pid);
                }
            }
        }

        return found;
    }

    /// <summary>
    /// Whether a process that <see cref="Descendants"/> found still runs. A pid can be reused, so it counts only if
    /// it still runs the same command.
    /// </summary>
    public static bool IsAlive(int pid, string commandLine)
    {
        try
        {
            var state = File.ReadAllText($"/proc/{pid}/stat");
            var isZombie = state[(state.LastIndexOf(')') + 2)..].StartsWith('Z');
            return !isZombie && CommandLine(pid) == commandLine;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1]);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
    }
}
