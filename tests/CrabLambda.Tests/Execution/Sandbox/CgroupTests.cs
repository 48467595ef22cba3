using System.Diagnostics;
using System.Globalization;
using CrabLambda.Execution.Sandbox;

namespace CrabLambda.Tests.Execution.Sandbox;

public sealed class CgroupTests(SandboxFixture sandbox) : IClassFixture<SandboxFixture>
{
    private const long Mb = 1024 * 1024;

    private CgroupHost Host => sandbox.Isolation.Cgroups!;

    [Fact]
    public async Task CreateGroup_AllocationPastTheLimit_IsKilledAndCountedAsOom()
    {
        using var group = Host.CreateGroup(NewName(), new CgroupLimits(64 * Mb, 64, 1));

        var (exitCode, _) = await sandbox.RunPythonAsync("b = bytearray(200 * 1024 * 1024); print(len(b))", group);

        Assert.Equal(137, exitCode);
        Assert.True(group.OomKills() >= 1);
    }

    [Fact]
    public async Task PeakBytes_AfterReset_MeasuresTheAllocation()
    {
        using var group = Host.CreateGroup(NewName(), new CgroupLimits(256 * Mb, 64, 1));
        group.ResetPeak();

        var (exitCode, _) = await sandbox.RunPythonAsync(
            "b = bytearray(80 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1",
            group);

        Assert.Equal(0, exitCode);
        var peak = group.PeakBytes();
        Assert.NotNull(peak);
        Assert.InRange(peak.Value, 80 * Mb, 256 * Mb);
        Assert.Equal(0, group.OomKills());
    }

    [Fact]
    public void SetLimits_LoweredWhileAProcessRuns_HoldsThatProcessToTheNewLimit()
    {
        using var group = Host.CreateGroup(NewName(), new CgroupLimits(512 * Mb, 64, 1));
        using var process = StartInGroup(
            group,
            "exec python3 -c 'import sys; sys.stdin.readline(); b = bytearray(200 * 1024 * 1024); print(len(b))'",
            redirectInput: true);
        WaitFor(() => group.Processes().Count >= 1);

        group.SetLimits(new CgroupLimits(64 * Mb, 64, 0.5));
        process.StandardInput.WriteLine("go");

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(137, process.ExitCode);
        Assert.True(group.OomKills() >= 1);
    }

    [Fact]
    public async Task SetLimits_Raised_LetsAnAllocationPastTheOldLimitThrough()
    {
        using var group = Host.CreateGroup(NewName(), new CgroupLimits(64 * Mb, 64, 0.5));

        group.SetLimits(new CgroupLimits(512 * Mb, 64, 1));
        var (exitCode, output) = await sandbox.RunPythonAsync(
            "b = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint(len(b))",
            group);

        Assert.Equal(0, exitCode);
        Assert.Contains((200 * Mb).ToString(CultureInfo.InvariantCulture), output);
        Assert.Equal(0, group.OomKills());
    }

    [Fact]
    public async Task CreateGroup_ForkBomb_HitsTheProcessLimit()
    {
        using var group = Host.CreateGroup(NewName(), new CgroupLimits(256 * Mb, 16, 1));

        var (_, output) = await sandbox.RunPythonAsync(
            """
            import os, time
            children = 0
            try:
                for _ in range(200):
                    if os.fork() == 0:
                        time.sleep(30)
                        os._exit(0)
                    children += 1
            except OSError as e:
                print('refused after', children, e.errno)
            """,
            group);

        Assert.Contains("refused after", output);
        Assert.True(group.ProcessLimitHits() >= 1);
    }

    [Fact]
    public async Task CreateGroup_BusyLoop_IsHeldToItsCpuShare()
    {
        using var group = Host.CreateGroup(NewName(), new CgroupLimits(128 * Mb, 16, 0.25));

        var (exitCode, output) = await sandbox.RunPythonAsync(
            """
            import time, resource
            start = time.monotonic()
            while time.monotonic() - start < 2:
                pass
            print(resource.getrusage(resource.RUSAGE_SELF).ru_utime / (time.monotonic() - start))
            """,
            group);

        Assert.Equal(0, exitCode);
        var share = double.Parse(output.Trim(), CultureInfo.InvariantCulture);
        Assert.True(share < 0.4, $"a quarter-CPU group used {share:P0} of a CPU");
    }

    [Fact]
    public void KillAll_StopsEveryProcessInTheGroup()
    {
        using var group = Host.CreateGroup(NewName(), new CgroupLimits(64 * Mb, 16, 1));
        using var process = StartInGroup(group, "sleep 300 & sleep 300 & wait");
        WaitFor(() => group.Processes().Count >= 3);

        group.KillAll();

        WaitFor(() => group.Processes().Count == 0);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void V2_MembershipAndKill_WorkOnTheUnifiedHierarchy()
    {
        // This host binds memory, pids and cpu to v1, so its v2 hierarchy has no controllers: the v2 code still
        // places workers in groups, finds their processes and kills them all through cgroup.kill.
        var unified = CgroupMounts.Read().Unified;
        Assert.True(unified is not null, "no cgroup2 hierarchy is mounted on this host");
        var host = CgroupV2Host.TryCreate(unified, new HashSet<string>(), out var reason);
        Assert.True(host is not null, reason);

        using var group = host.CreateGroup(NewName(), new CgroupLimits(64 * Mb, 16, 1));
        using var process = StartInGroup(group, "sleep 300 & sleep 300 & wait");
        WaitFor(() => group.Processes().Count >= 3);

        group.KillAll();

        WaitFor(() => group.Processes().Count == 0);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, host.Version);
    }

    [Fact]
    public void V2_LimitsAndCounters_UseTheV2Files()
    {
        // A folder laid out like a v2 group stands in for controllers this host does not delegate to v2.
        var root = Directory.CreateTempSubdirectory("crablambda-cgroup-v2-").FullName;
        try
        {
            var host = CgroupV2Host.TryCreate(root, new HashSet<string> { "memory", "pids", "cpu" }, out var reason);
            Assert.True(host is not null, reason);
            var groupFolder = Path.Combine(root, CgroupHost.ServerFolderName, "w1");
            Directory.CreateDirectory(groupFolder);
            File.WriteAllText(Path.Combine(groupFolder, "memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
            File.WriteAllText(Path.Combine(groupFolder, "pids.events"), "max 3\n");
            File.WriteAllText(Path.Combine(groupFolder, "memory.peak"), "12345678\n");

            var group = host.CreateGroup("w1", new CgroupLimits(64 * Mb, 32, 0.5));

            Assert.Equal((64 * Mb).ToString(CultureInfo.InvariantCulture), Read(groupFolder, "memory.max"));
            Assert.Equal("32", Read(groupFolder, "pids.max"));
            Assert.Equal("50000 100000", Read(groupFolder, "cpu.max"));
            Assert.Equal("0", Read(groupFolder, "memory.swap.max"));
            Assert.Equal(1, group.OomKills());
            Assert.Equal(3, group.ProcessLimitHits());
            Assert.Equal("+memory +pids +cpu", Read(root, "cgroup.subtree_control"));

            group.SetLimits(new CgroupLimits(2048 * Mb, 32, 2));

            Assert.Equal((2048 * Mb).ToString(CultureInfo.InvariantCulture), Read(groupFolder, "memory.max"));
            Assert.Equal("200000 100000", Read(groupFolder, "cpu.max"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void RemoveLeftovers_FolderOfAServerThatIsGone_KillsWhatRunsInItAndRemovesIt()
    {
        var name = CgroupHost.FolderName(CgroupHost.OwnPidNamespace, GoneProcess(out var startTime), startTime);
        var group = Host.OpenGroup(name, "w-left");
        CreateFolders(name, "w-left");
        using var left = StartInGroup(group, "sleep 300 & sleep 300 & wait");
        WaitFor(() => group.Processes().Count >= 3);

        var removed = Host.RemoveLeftovers();

        Assert.Contains(name, removed.Folders);
        Assert.True(removed.KilledProcesses >= 3, $"{removed.KilledProcesses} processes killed");
        Assert.True(left.WaitForExit(TimeSpan.FromSeconds(10)));
        Assert.All(Host.ParentFolders, parent => Assert.False(Directory.Exists(Path.Join(parent, name))));
    }

    [Fact]
    public void RemoveLeftovers_FolderOfARunningServerOrAnotherNamespace_IsLeftAsItIs()
    {
        using var owner = System.Diagnostics.Process.Start("sleep", "300");
        var running = CgroupHost.FolderName(
            CgroupHost.OwnPidNamespace,
            owner.Id,
            CrabLambda.Execution.Process.ProcessTree.ReadStartTime(owner.Id)!.Value);
        var elsewhere = CgroupHost.FolderName(CgroupHost.OwnPidNamespace + 1, GoneProcess(out var start), start);
        var group = Host.OpenGroup(running, "w-busy");
        CreateFolders(running, "w-busy");
        CreateFolders(elsewhere, "w-idle");
        using var busy = StartInGroup(group, "sleep 300");
        try
        {
            WaitFor(() => group.Processes().Count >= 1);

            var removed = Host.RemoveLeftovers();

            Assert.DoesNotContain(running, removed.Folders);
            Assert.DoesNotContain(elsewhere, removed.Folders);
            Assert.False(busy.HasExited);
            Assert.All(
                Host.ParentFolders,
                parent => Assert.True(Directory.Exists(Path.Join(parent, running, "w-busy"))));
            Assert.All(Host.ParentFolders, parent => Assert.True(Directory.Exists(Path.Join(parent, elsewhere))));
        }
        finally
        {
            owner.Kill();
            group.Dispose();
            Host.OpenGroup(elsewhere, "w-idle").Dispose();
            foreach (var parent in Host.ParentFolders)
            {
                Directory.Delete(Path.Join(parent, running));
                Directory.Delete(Path.Join(parent, elsewhere));
            }
        }
    }

    [Fact]
    public void RemoveLeftovers_OlderFolderOfAGonePid_IsRemovedWhenEmptyAndNeverKilled()
    {
        var empty = "crablambda-" + GoneProcess(out _);
        var busy = "crablambda-" + GoneProcess(out _);
        CreateFolders(empty, "w-empty");
        CreateFolders(busy, "w-busy");
        var group = Host.OpenGroup(busy, "w-busy");
        using var process = StartInGroup(group, "sleep 300");
        try
        {
            WaitFor(() => group.Processes().Count >= 1);

            var removed = Host.RemoveLeftovers();

            Assert.Contains(empty, removed.Folders);
            Assert.DoesNotContain(busy, removed.Folders);
            Assert.False(process.HasExited);
            Assert.All(Host.ParentFolders, parent => Assert.False(Directory.Exists(Path.Join(parent, empty))));
        }
        finally
        {
            group.Dispose();
            foreach (var parent in Host.ParentFolders)
            {
                Directory.Delete(Path.Join(parent, busy));
            }
        }
    }

    [Fact]
    public void Release_LastUserInTheProcess_RemovesTheServersFolderWithWhatIsLeftInIt()
    {
        // A folder stands in for a v2 group; without controllers the server's folder holds no files of its own.
        var root = Directory.CreateTempSubdirectory("crablambda-cgroup-release-").FullName;
        try
        {
            var first = CgroupV2Host.TryCreate(root, new HashSet<string>(), out var reason);
            Assert.True(first is not null, reason);
            var second = CgroupV2Host.TryCreate(root, new HashSet<string>(), out reason);
            Assert.True(second is not null, reason);
            first.CreateGroup("w-left", new CgroupLimits(64 * Mb, 16, 1));
            var folder = Path.Join(root, CgroupHost.ServerFolderName);

            first.Release();
            first.Release();
            Assert.True(Directory.Exists(Path.Join(folder, "w-left")));
            second.Release();

            Assert.False(Directory.Exists(folder));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Read_ParsesMountInfoAndOwnGroups()
    {
        var folder = Directory.CreateTempSubdirectory("crablambda-mounts-").FullName;
        try
        {
            var mountInfo = Path.Combine(folder, "mountinfo");
            var cgroup = Path.Combine(folder, "cgroup");
            File.WriteAllLines(mountInfo,
            [
                "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
                "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
                "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
                "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
            ]);
            File.WriteAllLines(cgroup, ["8:pids:/", "4:memory:/jobs/42", "1:cpu:/", "0::/svc"]);

            var mounts = CgroupMounts.Read(mountInfo, cgroup);

            Assert.Equal("/sys/fs/cgroup/memory/jobs/42", mounts.V1["memory"]);
            Assert.Equal("/sys/fs/cgroup/pids", mounts.V1["pids"]);
            Assert.Equal("/sys/fs/cgroup/unified/svc", mounts.Unified);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string Read(string folder, string file) => File.ReadAllText(Path.Combine(folder, file)).Trim();

    private static string NewName() => "test-" + Guid.NewGuid().ToString("N")[..12];

    // A process that ran and is gone, with the start time it had.
    private static int GoneProcess(out long startTime)
    {
        using var process = System.Diagnostics.Process.Start("sleep", "300");
        startTime = CrabLambda.Execution.Process.ProcessTree.ReadStartTime(process.Id)!.Value;
        process.Kill();
        process.WaitForExit();
        return process.Id;
    }

    // A worker group's folders in a server's folder, as a server makes them.
    private void CreateFolders(string serverFolder, string group)
    {
        foreach (var parent in Host.ParentFolders)
        {
            Directory.CreateDirectory(Path.Join(parent, serverFolder, group));
        }
    }

    private static System.Diagnostics.Process StartInGroup(
        CgroupGroup group,
        string script,
        bool redirectInput = false)
    {
        var join = string.Join(' ', group.ProcsFiles.Select(f => $"echo $$ > '{f}';"));
        var start = new ProcessStartInfo("/bin/sh", ["-c", join + " " + script])
        {
            RedirectStandardInput = redirectInput,
        };
        return System.Diagnostics.Process.Start(start)!;
    }

    private static void WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not become true in time");
            Thread.Sleep(20);
        }
    }
}
