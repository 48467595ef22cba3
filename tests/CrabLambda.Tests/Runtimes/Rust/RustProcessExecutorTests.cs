using System.Text;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Functions;
using Microsoft.Extensions.Logging.Abstractions;

namespace CrabLambda.Tests.Runtimes.Rust;

/// <summary>
/// Rust functions end to end through the process executor: deploy-time compile, warm workers, logs and failures.
/// </summary>
[Collection(RustCollection.Name)]
public sealed class RustProcessExecutorTests(RustRuntimeFixture fixture) : IAsyncLifetime
{
    private const string Nesting = """
        fn handler(event: Value) -> Value {
            let depth = match event.get("depth").and_then(Value::as_u64) {
                Some(depth) => depth,
                None => return event,
            };
            let mut value = json!(0);
            for _ in 0..depth {
                value = json!([value]);
            }
            value
        }
        """;

    private readonly ProcessExecutor _executor = new(
        Microsoft.Extensions.Options.Options.Create(
            new CrabLambdaOptions { WorkDirectory = fixture.NewFolder("crablambda-rust-work") }),
        new SessionWorkerLauncher(),
        TimeProvider.System,
        NullLogger<ProcessExecutor>.Instance);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _executor.DisposeAsync();

    [Fact]
    public async Task ExecuteAsync_QuickStartFunction_AnswersWithTheGreeting()
    {
        var version = await DeployAsync(
            "fn handler(event: serde_json::Value) -> String { " +
            "format!(\"Hello, {}!\", event[\"name\"].as_str().unwrap_or(\"World\")) }");

        var outcome = await ExecuteAsync(version, """{"name":"CrabLambda"}""");

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("\"Hello, CrabLambda!\"", outcome.Output);
    }

    [Fact]
    public async Task ExecuteAsync_SecondInvocation_ReusesTheWarmWorkerAndKeepsLogsApart()
    {
        var version = await DeployAsync("""
            use std::sync::atomic::{AtomicU32, Ordering};

            static CALLS: AtomicU32 = AtomicU32::new(0);

            fn handler(event: Value) -> Value {
                let call = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
                println!("call {} of pid {}", call, std::process::id());
                eprintln!("event {}", event);
                json!({ "call": call, "pid": std::process::id() })
            }
            """);

        var first = await ExecuteAsync(version, """{"n":1}""");
        var second = await ExecuteAsync(version, """{"n":2}""");

        Assert.Equal(ExecutionStatus.Success, second.Status);
        Assert.Contains("\"call\":1", first.Output);
        Assert.Contains("\"call\":2", second.Output);
        Assert.Equal(Pid(first.Output), Pid(second.Output));
        Assert.Equal(["""event {"n":2}"""], Lines(second, "error"));
        Assert.Single(Lines(second, "info"), line => line.StartsWith("call 2 of pid", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExecuteAsync_PanicThenNormalCall_RecordsErrorAndServesTheNext()
    {
        var version = await DeployAsync("""
            fn handler(event: Value) -> Result<String, String> {
                if event["panic"] == true {
                    let empty: Vec<u8> = Vec::new();
                    return Ok(empty[1].to_string());
                }
                Err("refused politely".to_string())
            }
            """);

        var panicked = await ExecuteAsync(version, """{"panic":true}""");
        var refused = await ExecuteAsync(version, "{}");

        Assert.Equal(ExecutionStatus.Error, panicked.Status);
        Assert.Contains("index out of bounds", panicked.Error);
        Assert.Equal(ExecutionStatus.Error, refused.Status);
        Assert.Contains("refused politely", refused.Error);
    }

    [Fact]
    public async Task ExecuteAsync_HandlerRunsPastItsTimeout_IsStoppedAndTheNextCallWorks()
    {
        var version = await DeployAsync("""
            fn handler(event: Value) -> u64 {
                if event["spin"] == true {
                    loop { std::thread::sleep(std::time::Duration::from_millis(10)); }
                }
                7
            }
            """, timeoutSecs: 1);

        var stopped = await ExecuteAsync(version, """{"spin":true}""");
        var next = await ExecuteAsync(version, "{}");

        Assert.Equal(ExecutionStatus.Timeout, stopped.Status);
        Assert.Equal(ExecutionStatus.Success, next.Status);
        Assert.Equal("7", next.Output);
    }

    [Fact]
    public async Task ExecuteAsync_EventNested256Levels_ReachesTheHandlerAndComesBack()
    {
        var version = await DeployAsync(Nesting);
        var nested = Nested(256);

        var echoed = await ExecuteAsync(version, nested);
        var inside = await ExecuteAsync(version, $$"""{"depth":0,"list":{{Nested(200)}}}""");

        Assert.Equal(ExecutionStatus.Success, echoed.Status);
        Assert.Equal(nested, echoed.Output);
        Assert.Equal(ExecutionStatus.Success, inside.Status);
        Assert.Equal("0", inside.Output);
    }

    [Fact]
    public async Task ExecuteAsync_OutputNested257Levels_IsAnErrorSayingSoAndTheWorkerServesTheNext()
    {
        var version = await DeployAsync(Nesting);

        var tooDeep = await ExecuteAsync(version, """{"depth":257}""");
        var next = await ExecuteAsync(version, """{"depth":2}""");

        Assert.Equal(ExecutionStatus.Error, tooDeep.Status);
        Assert.Contains("output nested deeper than 256 levels", tooDeep.Error);
        Assert.Equal("[[0]]", next.Output);
    }

    private static string Nested(int depth) => new string('[', depth) + "0" + new string(']', depth);

    [Fact]
    public async Task ExecuteAsync_FunctionWritesAResultToDescriptor3_DoesNotReachTheProtocolSocket()
    {
        var version = await DeployAsync("""
            use std::io::Write;
            use std::os::unix::io::FromRawFd;

            fn handler(_event: Value) -> String {
                let mut three = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(3) });
                match three.write_all(b"{\"type\":\"result\",\"id\":\"x\",\"ok\":true,\"output\":1}\n") {
                    Ok(()) => "written".to_string(),
                    Err(error) => format!("{:?}", error.raw_os_error()),
                }
            }
            """);

        var outcome = await ExecuteAsync(version, "{}");
        var next = await ExecuteAsync(version, "{}");

        Assert.Equal("\"Some(9)\"", outcome.Output);
        Assert.Equal("\"Some(9)\"", next.Output);
    }

    private async Task<FunctionVersion> DeployAsync(string code, int timeoutSecs = 30)
    {
        var version = RustRuntimeFixture.Version(code) with { TimeoutSecs = timeoutSecs };
        await fixture.Runtime.PrepareAsync(version, CancellationToken.None);
        return version;
    }

    private Task<ExecutionOutcome> ExecuteAsync(FunctionVersion version, string eventJson) =>
        _executor.ExecuteAsync(
            new ExecutionRequest(
                Guid.NewGuid(),
                "rust-end-to-end",
                version,
                fixture.Runtime,
                Encoding.UTF8.GetBytes(eventJson)),
            CancellationToken.None);

    private static string Pid(string? output) =>
        System.Text.Json.Nodes.JsonNode.Parse(output!)!["pid"]!.ToJsonString();

    private static string[] Lines(ExecutionOutcome outcome, string level) =>
        outcome.Logs.Where(line => line.Level == level).Select(line => line.Message).ToArray();
}
