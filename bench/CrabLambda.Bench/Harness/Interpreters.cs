using System.Diagnostics;

namespace CrabLambda.Bench.Harness;

/// <summary>
/// The interpreters the runtimes run workers with, resolved to the programs behind any shim on PATH (as the runtimes
/// resolve them), and the floors measured on them: a bare start and an idle interpreter's memory.
/// </summary>
internal sealed record Interpreters(string Python, string Node)
{
    public static async Task<Interpreters> ResolveAsync()
    {
        var python = await RunAsync(
            Environment.GetEnvironmentVariable("CRABLAMBDA_PYTHON") ?? "python3",
            ["-c", "import sys; print(sys.executable)"]);
        var node = await RunAsync(
            Environment.GetEnvironmentVariable("CRABLAMBDA_NODE") ?? "node",
            ["-p", "process.execPath"]);
        return new Interpreters(python.Trim(), node.Trim());
    }

    public async Task<string> VersionAsync(string runtime) => runtime switch
    {
        "python" => (await RunAsync(Python, ["--version"])).Trim(),
        "node" => "Node.js " + (await RunAsync(Node, ["--version"])).Trim(),
        _ => "",
    };

    /// <summary>
    /// The command a bare start of a runtime's interpreter runs (<c>python3 -c pass</c>, <c>node -e 0</c>).
    /// </summary>
    public (string Program, string[] Arguments) BareStart(string runtime) => runtime switch
    {
        "python" => (Python, ["-c", "pass"]),
        "node" => (Node, ["-e", "0"]),
        _ => throw new ArgumentOutOfRangeException(nameof(runtime), runtime, "No interpreter for this runtime."),
    };

    /// <summary>Starts the interpreter with an empty program and waits for it to exit.</summary>
    public async Task<TimeSpan> TimeBareStartAsync(string runtime)
    {
        var (program, arguments) = BareStart(runtime);
        var info = WorkerLikeStart(program, arguments);

        var started = Stopwatch.GetTimestamp();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start.");
        await process.WaitForExitAsync();
        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>
    /// Starts the interpreter with a program that says it is up and then sleeps, and reads its resident memory.
    /// </summary>
    public async Task<double> MeasureIdleMemoryMbAsync(string runtime)
    {
        var (program, arguments) = runtime switch
        {
            "python" => (Python, new[] { "-c", "import os, time; os.write(1, b'up'); time.sleep(120)" }),
            "node" => (Node, new[] { "-e", "process.stdout.write('up'); setTimeout(() => {}, 120000)" }),
            _ => throw new ArgumentOutOfRangeException(nameof(runtime), runtime, "No interpreter for this runtime."),
        };
        var info = WorkerLikeStart(program, arguments);
        info.RedirectStandardOutput = true;

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start.");
        try
        {
            var buffer = new char[2];
            await process.StandardOutput.ReadBlockAsync(buffer);
            return ProcessStats.ResidentMb(process.Id)
                ?? throw new InvalidOperationException($"{program} exited before its memory was read.");
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// A start with the environment a worker gets, not the benchmark's own: variables such as
    /// <c>NODE_EXTRA_CA_CERTS</c> or <c>PYTHONSTARTUP</c> change an interpreter's start, and workers never see them.
    /// </summary>
    private static ProcessStartInfo WorkerLikeStart(string program, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(program) { UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment.Clear();
        info.Environment["PATH"] = $"{Path.GetDirectoryName(program)}:/usr/local/bin:/usr/bin:/bin";
        info.Environment["LANG"] = "C.UTF-8";
        info.Environment["HOME"] = Path.GetTempPath();
        return info;
    }

    private static async Task<string> RunAsync(string program, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start.");
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }
}
