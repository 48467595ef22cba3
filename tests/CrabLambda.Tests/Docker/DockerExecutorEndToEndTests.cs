using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using CrabLambda.Docker;
using CrabLambda.Tests.Infrastructure;
using CrabLambda.Tests.Server.EndToEnd;
using Microsoft.Extensions.DependencyInjection;

namespace CrabLambda.Tests.Docker;

/// <summary>
/// The standalone server with <c>EXECUTOR=docker</c> against a real engine: the end-to-end invoke cases, run in
/// containers of the locally built runtime images.
/// </summary>
[Collection(DockerCollection.Name)]
public sealed class DockerExecutorEndToEndTests(DockerEngine engine) : IAsyncLifetime
{
    private ServerHarness _server = null!;

    private string Owner => _server.Services.GetRequiredService<DockerWorkerLauncher>().Owner;

    public async Task InitializeAsync()
    {
        engine.Require();
        _server = await ServerHarness.StartAsync(engine.ServerVariables);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Invoke_PythonQuickStart_AnswersInAContainerAndLogsTheGreeting()
    {
        await _server.DeployAsync("hello-py", "python", FunctionCode.PythonQuickStart);

        var result = await _server.InvokeAsync("hello-py", """{"name":"CrabLambda"}""");
        var logs = await _server.GetJsonAsync($"api/executions/{result.GetProperty("execution_id")}/logs");

        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal("Hello, CrabLambda!", result.GetProperty("output").GetString());
        Assert.True(result.GetProperty("memory_used_mb").GetDouble() > 0);
        var line = Assert.Single(logs.EnumerateArray());
        Assert.Equal("greeting CrabLambda", line.GetProperty("message").GetString());
        Assert.Equal("info", line.GetProperty("level").GetString());
        var container = Assert.Single(await engine.ContainersOfAsync(Owner));
        Assert.Equal(DockerEngine.PythonImage, container.Image);
    }

    [Fact]
    public async Task Invoke_NodeQuickStart_AnswersInAContainer()
    {
        await _server.DeployAsync("hello-node", "node", FunctionCode.NodeQuickStart);

        var result = await _server.InvokeAsync("hello-node", """{"name":"CrabLambda"}""");
        var logs = await _server.GetJsonAsync($"api/executions/{result.GetProperty("execution_id")}/logs");

        Assert.Equal("Hello, CrabLambda!", result.GetProperty("output").GetString());
        Assert.Equal("greeting CrabLambda", Assert.Single(logs.EnumerateArray()).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Invoke_RustQuickStart_RunsTheStaticBinaryInTheBaseImage()
    {
        await _server.DeployAsync(
            "hello-world",
            "rust",
            """
            fn handler(event: serde_json::Value) -> String {
                format!("Hello, {}!", event["name"].as_str().unwrap_or("World"))
            }
            """,
            extra: new { memory_mb = 128, timeout_secs = 5 });

        var result = await _server.InvokeAsync("hello-world", """{"name":"CrabLambda"}""");

        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal("Hello, CrabLambda!", result.GetProperty("output").GetString());
    }

    [Fact]
    public async Task Invoke_Twice_ReusesTheWarmContainer()
    {
        await _server.DeployAsync(
            "warm",
            "python",
            "import socket\ndef handler(event):\n    return socket.gethostname()\n");

        var first = await _server.InvokeAsync("warm");
        var second = await _server.InvokeAsync("warm");

        var container = Assert.Single(await engine.ContainersOfAsync(Owner));
        Assert.Equal(first.GetProperty("output").GetString(), second.GetProperty("output").GetString());
        Assert.StartsWith(first.GetProperty("output").GetString()!, container.ID, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_HandlerRaises_IsErrorWithTheTraceAndTheNextInvocationWorks()
    {
        await _server.DeployAsync("fails", "python", FunctionCode.PythonReturning("fails"));

        var failed = await _server.InvokeAsync("fails", """{"fail":true}""");
        var next = await _server.InvokeAsync("fails", """{"fail":false}""");

        Assert.Equal("error", failed.GetProperty("status").GetString());
        Assert.Contains("ValueError: asked to fail", failed.GetProperty("error").GetString());
        Assert.Contains("Traceback", failed.GetProperty("error").GetString());
        Assert.Equal("success", next.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Invoke_PastTheTimeout_IsTimeoutTheContainerIsGoneAndTheNextInvocationWorks()
    {
        await _server.DeployAsync(
            "spins",
            "python",
            "def handler(event):\n    while not event.get(\"stop\"):\n        pass\n    return \"stopped\"\n",
            extra: new { timeout_secs = 1 });

        var timedOut = await _server.InvokeAsync("spins");
        var firstContainers = await engine.ContainersOfAsync(Owner);
        var next = await _server.InvokeAsync("spins", """{"stop":true}""");

        Assert.Equal("timeout", timedOut.GetProperty("status").GetString());
        Assert.Contains("timeout of 1 s", timedOut.GetProperty("error").GetString());
        Assert.All(firstContainers, c => Assert.NotEqual("running", c.State));
        Assert.Equal("stopped", next.GetProperty("output").GetString());
    }

    [Fact]
    public async Task Invoke_AllocatingPastTheMemoryLimit_IsOomAndTheNextInvocationWorks()
    {
        await _server.DeployAsync(
            "hungry",
            "python",
            "def handler(event):\n    if event.get(\"small\"):\n        return \"fine\"\n"
                + "    block = bytearray(200 * 1024 * 1024)\n    return len(block)\n",
            extra: new { memory_mb = 64, timeout_secs = 10 });

        var oom = await _server.InvokeAsync("hungry");
        var next = await _server.InvokeAsync("hungry", """{"small":true}""");

        Assert.Equal("oom", oom.GetProperty("status").GetString());
        Assert.Contains("memory limit of 64 MB", oom.GetProperty("error").GetString());
        Assert.Equal("fine", next.GetProperty("output").GetString());
    }

    [Fact]
    public async Task Rollback_ToTheFirstVersion_RunsItsCodeInItsOwnContainer()
    {
        await _server.DeployAsync("versions", "python", "def handler(event):\n    return \"one\"\n");
        var update = await _server.Http.PutAsync(
            "api/functions/versions",
            new StringContent("""{"code":"def handler(event):\n    return \"two\"\n"}"""));
        await ServerHarness.ExpectAsync(update, HttpStatusCode.OK);

        var second = await _server.InvokeAsync("versions");
        var rollback = await _server.Http.PostAsync("api/functions/versions/rollback/1", null);
        await ServerHarness.ExpectAsync(rollback, HttpStatusCode.OK);
        var first = await _server.InvokeAsync("versions");

        Assert.Equal("two", second.GetProperty("output").GetString());
        Assert.Equal(2, second.GetProperty("version").GetInt32());
        Assert.Equal("one", first.GetProperty("output").GetString());
        Assert.Equal(1, first.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task Invoke_HostileFunction_SeesNoServerFilesNoNetworkAndRunsAsNobody()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await _server.DeployAsync("probe", "python", ProbeCode);

        var result = await _server.InvokeAsync(
            "probe",
            JsonSerializer.Serialize(new { database = _server.DatabasePath, port }));
        var report = JsonDocument.Parse(result.GetProperty("output").GetRawText()).RootElement;

        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal(65534, report.GetProperty("uid").GetInt32());
        Assert.False(report.GetProperty("database").GetBoolean());
        Assert.Equal(["lo"], report.GetProperty("interfaces").EnumerateArray().Select(i => i.GetString()));
        Assert.NotEqual("connected", report.GetProperty("connect").GetString());
        Assert.Equal("read-only", report.GetProperty("root").GetString());
        var environment = report.GetProperty("environment").EnumerateArray().Select(e => e.GetString());
        Assert.DoesNotContain("DATABASE_URL", environment);
    }

    [Fact]
    public async Task Shutdown_AfterInvocations_LeavesNoContainer()
    {
        await _server.DeployAsync("short", "python", "def handler(event):\n    return 1\n");
        await _server.InvokeAsync("short");
        var owner = Owner;
        Assert.NotEmpty(await engine.ContainersOfAsync(owner));

        await _server.DisposeAsync();
        _server = null!;

        Assert.Empty(await engine.ContainersOfAsync(owner));
    }

    private const string ProbeCode =
        """
        import os, socket

        def handler(event):
            report = {"uid": os.getuid(), "database": os.path.exists(event["database"])}
            report["interfaces"] = sorted(name for _, name in socket.if_nameindex())
            report["environment"] = sorted(os.environ)
            try:
                socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
                report["connect"] = "connected"
            except OSError as error:
                report["connect"] = type(error).__name__
            try:
                open("/etc/crablambda-probe", "w").close()
                report["root"] = "writable"
            except OSError:
                report["root"] = "read-only"
            return report
        """;
}
