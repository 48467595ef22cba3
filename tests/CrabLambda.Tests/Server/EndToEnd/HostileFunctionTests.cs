using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Functions that try to get out of their sandbox or past their limits, against a real server with
/// ISOLATION=sandbox. Each gets its status, leaks none of the server's secrets, and the server keeps serving.
/// </summary>
public sealed class HostileFunctionTests : IAsyncLifetime
{
    private readonly string _secret = "s3cret-" + Guid.NewGuid().ToString("N");
    private readonly string _envFile = Path.Combine(
        Directory.CreateTempSubdirectory("crablambda-hostile-").FullName,
        ".env");
    private ServerHarness _server = null!;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_envFile, $"API_KEY={_secret}\n");
        _server = await ServerHarness.StartAsync(new Dictionary<string, string?>
        {
            ["ISOLATION"] = "sandbox",
            ["API_KEY"] = _secret,
        });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(_envFile)!, recursive: true);
    }

    [Theory]
    [InlineData("database")]
    [InlineData("envfile")]
    [InlineData("/etc/shadow")]
    [InlineData("/root")]
    public async Task ReadServerFile_IsRefused(string target)
    {
        var path = target switch
        {
            "database" => _server.DatabasePath,
            "envfile" => _envFile,
            _ => target,
        };
        await _server.DeployAsync(
            "reader",
            "python",
            $$"""
            import os
            def handler(event):
                path = {{JsonSerializer.Serialize(path)}}
                if os.path.isdir(path):
                    return os.listdir(path)
                with open(path, "rb") as f:
                    return f.read().decode("latin-1")
            """);

        var result = await _server.InvokeAsync("reader");

        Assert.Equal("error", result.GetProperty("status").GetString());
        Assert.Contains("No such file", result.GetProperty("error").GetString());
        await AssertNoLeakAndStillServingAsync(result);
    }

    [Fact]
    public async Task ProcessOneEnvironment_HoldsNoSecret()
    {
        await _server.DeployAsync(
            "environ",
            "python",
            """
            def handler(event):
                with open("/proc/1/environ", "rb") as f:
                    return f.read().decode("latin-1")
            """);

        var result = await _server.InvokeAsync("environ");

        await AssertNoLeakAndStillServingAsync(result);
    }

    [Theory]
    [InlineData("python", "import os\ndef handler(event):\n    return dict(os.environ)\n")]
    [InlineData("node", "exports.handler = async () => ({ ...process.env });")]
    public async Task EnvironmentDump_HoldsNothingOfTheServer(string runtime, string code)
    {
        await _server.DeployAsync("dump-" + runtime, runtime, code);

        var result = await _server.InvokeAsync("dump-" + runtime);

        Assert.Equal("success", result.GetProperty("status").GetString());
        var names = result.GetProperty("output").EnumerateObject().Select(p => p.Name).ToArray();
        Assert.DoesNotContain("API_KEY", names);
        Assert.DoesNotContain("DATABASE_URL", names);
        await AssertNoLeakAndStillServingAsync(result);
    }

    [Fact]
    public async Task TcpConnection_IsRefusedWithoutNetwork_AndAllowedWithIt()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var code =
            $$"""
            import socket
            def handler(event):
                with socket.create_connection(("127.0.0.1", {{port}}), timeout=3):
                    return "connected"
            """;
        await _server.DeployAsync("isolated-net", "python", code);
        await _server.DeployAsync("allowed-net", "python", code, extra: new { network = true });

        var isolated = await _server.InvokeAsync("isolated-net");
        var allowed = await _server.InvokeAsync("allowed-net");

        Assert.Equal("error", isolated.GetProperty("status").GetString());
        Assert.Equal("success", allowed.GetProperty("status").GetString());
        Assert.Equal("connected", allowed.GetProperty("output").GetString());
        await AssertNoLeakAndStillServingAsync(isolated);
    }

    [Theory]
    [InlineData("python", "def handler(event):\n    return len(bytearray(200 << 20)) if event.get('big') else 'ok'\n")]
    [InlineData("node", "exports.handler = async (e) => e.big ? Buffer.alloc(200 << 20, 1).length : 'ok';")]
    public async Task Allocation_PastTheLimit_IsOom_AndTheNextInvokeWorks(string runtime, string code)
    {
        await _server.DeployAsync("hog-" + runtime, runtime, code, extra: new { memory_mb = 64, timeout_secs = 10 });

        var hog = await _server.InvokeAsync("hog-" + runtime, """{"big":true}""");
        var next = await _server.InvokeAsync("hog-" + runtime);

        Assert.Equal("oom", hog.GetProperty("status").GetString());
        Assert.Contains("64 MB", hog.GetProperty("error").GetString());
        Assert.Equal("ok", next.GetProperty("output").GetString());
        var peak = hog.GetProperty("memory_used_mb").GetDouble();
        Assert.InRange(peak, 32, 65);
        await AssertNoLeakAndStillServingAsync(hog);
    }

    [Fact]
    public async Task ForkBomb_IsStoppedByTheProcessLimit_AndSaysSo()
    {
        await _server.DeployAsync(
            "forkbomb",
            "python",
            """
            import os, time
            def handler(event):
                while True:
                    if os.fork() == 0:
                        time.sleep(60)
                        os._exit(0)
            """,
            extra: new { timeout_secs = 10 });

        var bomb = await _server.InvokeAsync("forkbomb");

        Assert.Equal("error", bomb.GetProperty("status").GetString());
        Assert.Contains("limit of", bomb.GetProperty("error").GetString());
        Assert.Contains("processes", bomb.GetProperty("error").GetString());
        await AssertNoLeakAndStillServingAsync(bomb);
    }

    [Fact]
    public async Task BusyLoop_IsHeldToItsCpuShare_AndTimesOut()
    {
        await _server.DeployAsync(
            "spinner",
            "python",
            """
            import resource, time
            def handler(event):
                start = time.monotonic()
                if event.get("forever"):
                    while True:
                        pass
                while time.monotonic() - start < 1.5:
                    pass
                return resource.getrusage(resource.RUSAGE_SELF).ru_utime / (time.monotonic() - start)
            """,
            extra: new { memory_mb = 128, timeout_secs = 2 });

        var share = await _server.InvokeAsync("spinner");
        var forever = await _server.InvokeAsync("spinner", """{"forever":true}""");

        Assert.True(share.GetProperty("output").GetDouble() < 0.7, "a 128 MB function has half a CPU: " + share);
        Assert.Equal("timeout", forever.GetProperty("status").GetString());
        await AssertNoLeakAndStillServingAsync(forever);
    }

    [Fact]
    public async Task ChildThatOutlivesItsParent_IsGoneAfterTheTimeout()
    {
        var tag = Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await _server.DeployAsync(
            "orphan",
            "python",
            $$"""
            import subprocess, time
            def handler(event):
                subprocess.Popen(["sleep", "{{tag}}"], start_new_session=True)
                time.sleep(60)
            """,
            extra: new { timeout_secs = 2 });

        var result = await _server.InvokeAsync("orphan");

        Assert.Equal("timeout", result.GetProperty("status").GetString());
        var survivors = Directory.EnumerateDirectories("/proc")
            .Select(d => Path.Combine(d, "cmdline"))
            .Where(f => File.Exists(f) && ReadOrEmpty(f).Contains("sleep\0" + tag, StringComparison.Ordinal))
            .ToArray();
        Assert.Empty(survivors);
        await AssertNoLeakAndStillServingAsync(result);
    }

    [Fact]
    public async Task WritingAGigabyteToTmp_StopsAtItsLimit_AndTheNextInvokeWorks()
    {
        await _server.DeployAsync(
            "filler",
            "python",
            """
            import os
            def handler(event):
                if event.get("fill"):
                    with open("/tmp/fill", "wb") as f:
                        for _ in range(1024):
                            f.write(b"x" * 1024 * 1024)
                    return "wrote a gigabyte"
                return sorted(os.listdir("/tmp"))
            """,
            extra: new { memory_mb = 64 });

        var fill = await _server.InvokeAsync("filler", """{"fill":true}""");
        var next = await _server.InvokeAsync("filler");

        Assert.Contains(fill.GetProperty("status").GetString(), new[] { "error", "oom" });
        Assert.Equal("success", next.GetProperty("status").GetString());
        await AssertNoLeakAndStillServingAsync(fill);
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    private async Task AssertNoLeakAndStillServingAsync(JsonElement result)
    {
        var id = result.GetProperty("execution_id").GetString();
        var logs = await _server.GetJsonAsync($"api/executions/{id}/logs");
        Assert.DoesNotContain(_secret, result.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_secret, logs.ToString(), StringComparison.Ordinal);

        var health = await _server.Http.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        await _server.DeployAsync(
            "canary-" + Guid.NewGuid().ToString("N")[..8],
            "python",
            "def handler(event):\n    return 'alive'\n");
    }
}
