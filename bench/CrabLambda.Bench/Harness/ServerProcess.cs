using System.Diagnostics;
using CrabLambda.Bench.Serve;

namespace CrabLambda.Bench.Harness;

/// <summary>
/// A benchmark server running in a child process (this program with the <c>serve</c> command), so that its CPU time
/// is its own. Stopped by closing its stdin, which stops its workers too.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(2);

    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Task _stderr;

    private ServerProcess(Process process, Uri address, StreamWriter log, Task stderr)
    {
        _process = process;
        Address = address;
        _log = log;
        _stderr = stderr;
    }

    /// <summary>The server's base address, for example <c>http://127.0.0.1:40123/</c>.</summary>
    public Uri Address { get; }

    /// <summary>The server's process id.</summary>
    public int ProcessId => _process.Id;

    /// <summary>The CPU time (user and system) the server process has used so far.</summary>
    public TimeSpan CpuTime => ProcessStats.CpuTime(_process.Id);

    /// <summary>
    /// Starts a server with the given configuration variables and waits until it listens.
    /// </summary>
    /// <exception cref="ServerStartException">The server refused its configuration or failed to start.</exception>
    public static async Task<ServerProcess> StartAsync(
        IReadOnlyDictionary<string, string> variables,
        string workDirectory,
        string logPath)
    {
        var (program, arguments) = SelfCommand("serve");
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in variables)
        {
            info.Environment[name] = value;
        }

        var process = Process.Start(info) ?? throw new ServerStartException("The server process did not start.");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        var errors = new System.Text.StringBuilder();
        var stderr = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
            {
                lock (log)
                {
                    log.WriteLine(line);
                    errors.AppendLine(line);
                }
            }
        });

        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                lock (log)
                {
                    log.WriteLine(line);
                }

                if (line.StartsWith(BenchServer.ListeningLine, StringComparison.Ordinal))
                {
                    var address = new Uri(line[BenchServer.ListeningLine.Length..].Trim() + "/");
                    _ = DrainAsync(process.StandardOutput, log);
                    return new ServerProcess(process, address, log, stderr);
                }
            }
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync();
        await stderr;
        await log.DisposeAsync();
        string message;
        lock (errors)
        {
            message = errors.ToString().Trim();
        }

        throw new ServerStartException(message.Length > 0 ? message : $"The server exited with {process.ExitCode}.");
    }

    /// <summary>
    /// How to start this program again with a command: the app host, or <c>dotnet</c> with the assembly.
    /// </summary>
    public static (string Program, IReadOnlyList<string> Arguments) SelfCommand(string command)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("The program's path is unknown.");
        return Path.GetFileNameWithoutExtension(host) == "dotnet"
            ? (host, [typeof(ServerProcess).Assembly.Location, command])
            : (host, [command]);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        await _stderr;
        lock (_log)
        {
            _log.Dispose();
        }

        _process.Dispose();
    }

    private static async Task DrainAsync(StreamReader output, StreamWriter log)
    {
        try
        {
            while (await output.ReadLineAsync() is { } line)
            {
                lock (log)
                {
                    log.WriteLine(line);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The log closed with the server.
        }
    }
}

/// <summary>The benchmark server did not start; the message is what it said.</summary>
internal sealed class ServerStartException(string message) : Exception(message);
