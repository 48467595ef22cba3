using CrabLambda.Execution.Sandbox;

namespace CrabLambda.Tests.Execution.Sandbox;

public sealed class BubblewrapCommandTests(SandboxFixture sandbox) : IClassFixture<SandboxFixture>
{
    [Fact]
    public async Task Build_RunsAsUnprivilegedUserInItsOwnPidNamespace()
    {
        var (exitCode, output) = await sandbox.RunPythonAsync(
            "import os; print(os.getuid(), os.getgid(), os.getpid(), "
                + "len([p for p in os.listdir('/proc') if p.isdigit()]))");

        Assert.Equal(0, exitCode);
        var fields = output.Split(' ', StringSplitOptions.TrimEntries);
        Assert.NotEqual("0", fields[0]);
        Assert.NotEqual("0", fields[1]);
        Assert.True(int.Parse(fields[2]) < 10, "the worker sees its own PID namespace: " + output);
        Assert.True(int.Parse(fields[3]) < 10, "it sees only its own processes: " + output);
    }

    [Theory]
    [InlineData("/root")]
    [InlineData("/etc/shadow")]
    [InlineData("/home")]
    [InlineData("/var/lib")]
    public async Task Build_HostPathsOutsideTheViewAreAbsent(string path)
    {
        var (exitCode, output) = await sandbox.RunPythonAsync($"import os; print(os.path.exists('{path}'))");

        Assert.Equal(0, exitCode);
        Assert.Equal("False", output.Trim());
    }

    [Fact]
    public async Task Build_ServerWorkingFolderIsInvisible()
    {
        var folder = Directory.GetCurrentDirectory();

        var (_, output) = await sandbox.RunPythonAsync($"import os; print(os.path.exists('{folder}'))");

        Assert.Equal("False", output.Trim());
    }

    [Fact]
    public async Task Build_RootAndUsrAreReadOnly()
    {
        var (_, output) = await sandbox.RunPythonAsync(
            """
            import os
            for p in ['/usr/crablambda-test', '/crablambda-test']:
                try:
                    open(p, 'w')
                    print('wrote', p)
                except OSError as e:
                    print('refused', p)
            """);

        Assert.DoesNotContain("wrote", output);
        Assert.Equal(2, output.Split("refused").Length - 1);
    }

    [Fact]
    public async Task Build_TmpIsPrivateWritableAndEmpty()
    {
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "crablambda-host-marker"), "host");

        var (exitCode, output) = await sandbox.RunPythonAsync(
            "import os; open('/tmp/x','w').write('1'); print(sorted(os.listdir('/tmp')))");

        Assert.Equal(0, exitCode);
        Assert.Equal("['x']", output.Trim());
    }

    [Fact]
    public async Task Build_TmpIsSizeLimited()
    {
        var (_, output) = await sandbox.RunPythonAsync(
            """
            try:
                with open('/tmp/big', 'wb') as f:
                    for _ in range(64):
                        f.write(b'x' * 1024 * 1024)
                print('wrote everything')
            except OSError as e:
                print('stopped', e.errno)
            """);

        Assert.Contains("stopped 28", output);
    }

    [Fact]
    public async Task Build_NoNetworkUnlessAllowed()
    {
        const string Probe =
            """
            import socket
            print([name for _, name in socket.if_nameindex()])
            """;

        var (_, isolated) = await sandbox.RunPythonAsync(Probe, network: false);
        var (_, shared) = await sandbox.RunPythonAsync(Probe, network: true);

        Assert.Equal("['lo']", isolated.Trim());
        Assert.NotEqual("['lo']", shared.Trim());
    }
}
