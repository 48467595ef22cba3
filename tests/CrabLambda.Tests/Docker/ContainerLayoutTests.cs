using CrabLambda.Docker;
using CrabLambda.Execution.Process;
using CrabLambda.Functions;
using CrabLambda.Runtimes;

namespace CrabLambda.Tests.Docker;

public sealed class ContainerLayoutTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("crablambda-layout-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void For_InterpreterLaunch_RunsTheImagesInterpreterAndMountsTheWorkerProgram()
    {
        var code = Directory.CreateDirectory(Path.Combine(_root, "code")).FullName;
        var module = Touch(Path.Combine(code, "function.py"));
        var worker = Touch(Path.Combine(_root, "python-worker.py"));
        var launch = new WorkerLaunch("/opt/python/bin/python3", ["-u", worker, module, "handler"])
        {
            ContainerExecutable = "python3",
        };

        var layout = ContainerLayout.For(StartInfo(launch, code));

        Assert.Equal(["python3", "-u", "/opt/crablambda/1/python-worker.py", "/var/task/function.py", "handler"],
            layout.Command);
        Assert.Contains(new ContainerMount(code, "/var/task", ReadOnly: true), layout.Mounts);
        Assert.Contains(
            new ContainerMount(worker, "/opt/crablambda/1/python-worker.py", ReadOnly: true),
            layout.Mounts);
        Assert.Contains(new ContainerMount(Path.Combine(_root, "w1.sock"), "/run/crablambda/worker.sock", false),
            layout.Mounts);
    }

    [Fact]
    public void For_HostEnvironment_KeepsTheImagesPathAndPointsHomeAndSocketIntoTheContainer()
    {
        var code = Directory.CreateDirectory(Path.Combine(_root, "code")).FullName;
        var launch = new WorkerLaunch(Touch(Path.Combine(code, "worker")), []);

        var layout = ContainerLayout.For(StartInfo(launch, code));

        Assert.Equal(["/var/task/worker"], layout.Command);
        Assert.DoesNotContain(layout.Environment, e => e.StartsWith("PATH=", StringComparison.Ordinal));
        Assert.Contains("HOME=/tmp", layout.Environment);
        Assert.Contains("TMPDIR=/tmp", layout.Environment);
        Assert.Contains("LANG=C.UTF-8", layout.Environment);
        Assert.Contains($"{WorkerProtocol.SocketVariable}=/run/crablambda/worker.sock", layout.Environment);
        Assert.DoesNotContain(layout.Environment, e => e.Contains(_root, StringComparison.Ordinal));
    }

    [Fact]
    public void For_ArgumentThatIsNoPath_IsKeptAsItIs()
    {
        var code = Directory.CreateDirectory(Path.Combine(_root, "code")).FullName;
        var launch = new WorkerLaunch("/usr/bin/env", ["/not/there", "--flag"]) { ContainerExecutable = "ruby" };

        var layout = ContainerLayout.For(StartInfo(launch, code));

        Assert.Equal(["ruby", "/not/there", "--flag"], layout.Command);
        Assert.Equal(2, layout.Mounts.Count);
    }

    private WorkerStartInfo StartInfo(WorkerLaunch launch, string code)
    {
        var version = new FunctionVersion(
            Guid.NewGuid(), 1, "", "", "python", "handler", 128, 5, false, DateTimeOffset.UnixEpoch);
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = "/opt/python/bin:/usr/bin:/bin",
            ["LANG"] = "C.UTF-8",
            ["HOME"] = Path.Combine(_root, "home"),
            ["TMPDIR"] = Path.Combine(_root, "home"),
            [WorkerProtocol.SocketVariable] = Path.Combine(_root, "w1.sock"),
        };
        return new WorkerStartInfo(launch, version, code, Path.Combine(_root, "home"), environment);
    }

    private static string Touch(string path)
    {
        File.WriteAllText(path, "");
        return path;
    }
}
