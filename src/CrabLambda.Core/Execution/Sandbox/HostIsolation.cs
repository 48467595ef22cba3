using System.Diagnostics;

namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// What isolation this host gives workers: bubblewrap namespaces, cgroup limits, both or neither. Decided once at
/// start-up from the requested <see cref="IsolationMode"/> and what the host can do.
/// </summary>
internal sealed class HostIsolation
{
    private HostIsolation(SandboxTools? tools, CgroupHost? cgroups, string description)
    {
        Tools = tools;
        Cgroups = cgroups;
        Description = description;
    }

    /// <summary>The programs to sandbox workers with, or <see langword="null"/> for plain processes.</summary>
    public SandboxTools? Tools { get; }

    /// <summary>
    /// The control groups that enforce limits, or <see langword="null"/> when limits are not enforced.
    /// </summary>
    public CgroupHost? Cgroups { get; }

    /// <summary>A sentence for the start-up log that says exactly what is in force.</summary>
    public string Description { get; }

    /// <summary>No sandbox and no limits.</summary>
    public static HostIsolation None(string why) =>
        new(null, null, "isolation: none (" + why + "); workers are plain processes with a clean environment, "
            + "and memory, CPU and process limits are not enforced");

    /// <summary>Finds what the host can give and checks it against what was asked for.</summary>
    /// <exception cref="InvalidOperationException">The sandbox was required and the host cannot give it.</exception>
    public static HostIsolation Resolve(IsolationMode mode)
    {
        if (mode == IsolationMode.None)
        {
            return None("ISOLATION=none");
        }

        var tools = FindTools(out var toolsProblem);
        var cgroups = CgroupHost.Detect(out var cgroupProblem);
        if (mode == IsolationMode.Sandbox && (tools is null || cgroups is null))
        {
            var reasons = new List<string>();
            if (tools is null)
            {
                reasons.Add("bubblewrap: " + toolsProblem);
            }

            if (cgroups is null)
            {
                reasons.Add("cgroups: " + cgroupProblem);
            }

            throw new InvalidOperationException(
                "ISOLATION=sandbox, but this host cannot sandbox workers: " + string.Join("; ", reasons)
                + ". Install bubblewrap (apt-get install bubblewrap) and run the server as root or in a delegated "
                + "cgroup subtree, or set ISOLATION=auto or ISOLATION=none.");
        }

        if (tools is null && cgroups is null)
        {
            return None($"bubblewrap: {toolsProblem}; cgroups: {cgroupProblem}");
        }

        var namespaces = tools is null
            ? "no namespaces (bubblewrap: " + toolsProblem + ")"
            : "bubblewrap namespaces (" + (tools.Setpriv is null ? "user, " : "") + "pid, mount, ipc, uts, network "
                + "unless allowed), a read-only view of /usr and the code, a private size-limited /tmp, "
                + (tools.Setpriv is null ? "the server's own unprivileged user" : "user nobody without capabilities");
        var limits = cgroups is null
            ? "no memory, CPU or process limits (cgroups: " + cgroupProblem + ")"
            : "memory, CPU and process-count limits through " + cgroups.Description;
        var level = tools is not null && cgroups is not null ? "sandbox" : "partial";
        return new HostIsolation(tools, cgroups, $"isolation: {level}: {namespaces}; {limits}");
    }

    private static SandboxTools? FindTools(out string problem)
    {
        var bwrap = FindOnPath("bwrap");
        var shell = File.Exists("/bin/sh") ? "/bin/sh" : FindOnPath("sh");
        if (bwrap is null || shell is null)
        {
            problem = bwrap is null ? "bwrap is not installed" : "no /bin/sh";
            return null;
        }

        string? setpriv = null;
        if (Environment.UserName == "root" || geteuid() == 0)
        {
            setpriv = FindOnPath("setpriv");
            if (setpriv is null)
            {
                problem = "the server runs as root and setpriv (util-linux) is missing to drop privileges";
                return null;
            }
        }

        var tools = new SandboxTools(bwrap, setpriv, shell);
        problem = Probe(tools);
        return problem.Length == 0 ? tools : null;
    }

    // Starts a trivial sandbox once: user namespaces can be disabled on a host where bwrap is installed.
    private static string Probe(SandboxTools tools)
    {
        var command = new BubblewrapCommand(tools, SandboxUser.UserId, SandboxUser.GroupId);
        var probeFile = Path.Combine(Path.GetTempPath(), "crablambda-probe-" + Environment.ProcessId);
        File.WriteAllText(probeFile, "");
        try
        {
            var args = command.Build(
                new Runtimes.WorkerLaunch("/usr/bin/true", []),
                "/usr",
                probeFile,
                network: false,
                tmpBytes: 1024 * 1024,
                group: null);
            var start = new ProcessStartInfo(args[0]) { RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in args.Skip(1))
            {
                start.ArgumentList.Add(arg);
            }

            using var process = ProcessSpawner.StartAsync(start).GetAwaiter().GetResult();
            var error = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return "a trial sandbox did not finish";
            }

            return process.ExitCode == 0 ? "" : "a trial sandbox failed: " + error.Trim();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException)
        {
            return "a trial sandbox could not start: " + ex.Message;
        }
        finally
        {
            File.Delete(probeFile);
        }
    }

    private static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>
/// The unprivileged user sandboxed workers run as when the server runs as root: <c>nobody</c>.
/// </summary>
internal static class SandboxUser
{
    public const int UserId = 65534;
    public const int GroupId = 65534;
}
