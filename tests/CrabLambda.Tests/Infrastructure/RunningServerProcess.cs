using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CrabLambda.Execution.Process;

namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// The built server running as a process of its own that leads its own session and process group, as a server
/// started from a terminal does: a signal to the group is what the terminal's Ctrl-C sends.
/// </summary>
public sealed class RunningServerProcess : IAsyncDisposable
{
    // python3 makes the new session and execs the server in place, with Ctrl-C's default action restored: a test
    // runner started in the background ignores SIGINT, and a server inheriting that would not show what a terminal's
    // Ctrl-C does.
    private const string Launcher =
        "import os, signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_DFL)\nos.setsid()\n"
        + "os.execvp(sys.argv[1], sys.argv[1:])";

    private readonly StringBuilder _output;

    private RunningServerProcess(Process process, StringBuilder output, int port)
    {
        Process = process;
        _output = output;
        Port = port;
        Http = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
            Timeout = TimeSpan.FromMinutes(3),
        };
    }

    public Process Process { get; }

    /// <summary>The server's pid, which is also its session and process group id.</summary>
    public int Pid => Process.Id;

    public int Port { get; }

    public HttpClient Http { get; }

    /// <summary>What the server wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the server in <paramref name="directory"/> and waits until it is ready.</summary>
    public static async Task<RunningServerProcess> StartAsync(
        string directory,
        IReadOnlyDictionary<string, string> variables)
    {
        Tools.Require("python3");
        var port = ServerProcess.FreePort();
        var all = new Dictionary<string, string>(variables)
        {
            ["SERVER_PORT"] = port.ToString(CultureInfo.InvariantCulture),
        };
        var start = ServerProcess.StartInfo(directory, all);
        start.ArgumentList.Insert(0, start.FileName);
        start.ArgumentList.Insert(0, Launcher);
        start.ArgumentList.Insert(0, "-c");
        start.FileName = "python3";

        var output = new StringBuilder();
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => ServerProcess.Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => ServerProcess.Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var server = new RunningServerProcess(process, output, port);
        try
        {
            await ServerProcess.WaitUntilReadyAsync(server.Http, process, output);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Deploys a Python function, failing the test if it is refused.</summary>
    public async Task DeployPythonAsync(string name, string code, object? extra = null)
    {
        var body = new Dictionary<string, object?>
        {
            ["name"] = name,
            ["runtime"] = "python",
            ["handler"] = "handler",
            ["code"] = code,
        };
        foreach (var property in extra?.GetType().GetProperties() ?? [])
        {
            body[property.Name] = property.GetValue(extra);
        }

        var response = await Http.PostAsync("api/functions", new StringContent(JsonSerializer.Serialize(body)));
        await ServerHarness.ExpectAsync(response, HttpStatusCode.Created);
    }

    /// <summary>Invokes a function and returns its invocation result, which must come with a 200.</summary>
    public async Task<JsonElement> InvokeAsync(string name, string eventJson)
    {
        var response = await Http.PostAsync($"api/functions/{name}/invoke", new StringContent(eventJson));
        return await ServerHarness.ExpectAsync(response, HttpStatusCode.OK);
    }

    /// <summary>Sends a signal to the server's process alone.</summary>
    public void Signal(int signal) => Assert.Equal(0, NativeMethods.Kill(Pid, signal));

    /// <summary>Sends a signal to the server's whole process group, as a terminal's Ctrl-C does.</summary>
    public void SignalGroup(int signal) => Assert.Equal(0, NativeMethods.Kill(-Pid, signal));

    /// <summary>Waits until the server no longer accepts connections, as it does once it is stopping.</summary>
    public async Task WaitUntilNotListeningAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
            }
            catch (SocketException)
            {
                return;
            }

            await Task.Delay(20, timeout.Token);
        }
    }

    /// <summary>Waits until the server exited and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await Process.WaitForExitAsync(timeout.Token);
        return Process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!Process.HasExited)
        {
            NativeMethods.Kill(-Pid, NativeMethods.SigKill);
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }

        Process.Dispose();
    }
}

/// <summary>
/// Where functions that take its <see cref="Event"/> report that they started and wait for the test to let them
/// return: they connect, send a line, and return when the test answers or closes the connection.
/// </summary>
public sealed class FunctionGate : IDisposable
{
    /// <summary>A Python handler that reports to the gate; it needs <c>network: true</c>.</summary>
    public const string PythonHandler =
        """
        import socket
        def handler(event):
            with socket.create_connection(("127.0.0.1", event["port"])) as connection:
                connection.sendall(b"started\n")
                connection.recv(16)
            return "done"
        """;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<TcpClient> _started = [];

    public FunctionGate() => _listener.Start();

    /// <summary>The event to invoke the function with.</summary>
    public string Event => $$"""{"port":{{((IPEndPoint)_listener.LocalEndpoint).Port}}}""";

    /// <summary>Waits until <paramref name="count"/> invocations in all are running inside their handlers.</summary>
    public async Task WaitForStartedAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (_started.Count < count)
        {
            var client = await _listener.AcceptTcpClientAsync(timeout.Token);
            _started.Add(client);
            var buffer = new byte[8];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await client.GetStream().ReadAsync(buffer.AsMemory(read), timeout.Token);
                Assert.True(n > 0, "a function connected and closed before it said it started");
                read += n;
            }

            Assert.Equal("started\n", Encoding.ASCII.GetString(buffer));
        }
    }

    /// <summary>Lets every waiting handler return.</summary>
    public void Release()
    {
        foreach (var client in _started)
        {
            try
            {
                client.GetStream().Write("go\n"u8);
            }
            catch (IOException)
            {
                // That function is gone already; its invocation says why.
            }
        }
    }

    public void Dispose()
    {
        foreach (var client in _started)
        {
            client.Dispose();
        }

        _listener.Stop();
        _listener.Dispose();
    }
}
