using System.Diagnostics;
using System.Runtime.InteropServices;

namespace CrabLambda.Bench.Harness;

/// <summary>The machine a run happened on, as the report prints it.</summary>
internal sealed record MachineInfo(
    int Cores,
    string Memory,
    string Kernel,
    string Cpu,
    string System,
    string DotNet,
    string Rust)
{
    public static async Task<MachineInfo> ReadAsync()
    {
        var memory = File.ReadLines("/proc/meminfo")
            .FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        var memoryGib = memory is null
            ? "unknown"
            : $"{long.Parse(memory.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0 / 1024.0:0.0} GiB";
        var cpu = File.ReadLines("/proc/cpuinfo")
            .FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
            ?.Split(':', 2)[1].Trim() ?? "unknown";
        var system = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release")
                .FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
                ?["PRETTY_NAME=".Length..].Trim('"') ?? "Linux"
            : "Linux";

        return new MachineInfo(
            Environment.ProcessorCount,
            memoryGib,
            File.ReadAllText("/proc/sys/kernel/osrelease").Trim(),
            cpu,
            system,
            RuntimeInformation.FrameworkDescription,
            await TryRunAsync("rustc", "--version"));
    }

    private static async Task<string> TryRunAsync(string program, string argument)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, argument)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (process is null)
            {
                return "not found";
            }

            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            return output.Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "not found";
        }
    }
}
