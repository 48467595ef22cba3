namespace CrabLambda.Tests.Runtimes.Rust;

/// <summary>
/// Compiled Rust functions driven over the worker protocol: each handler form, panics, logs and the worker's life.
/// </summary>
[Collection(RustCollection.Name)]
public sealed class RustWorkerTests(RustRuntimeFixture fixture)
{
    private const string QuickStart =
        "fn handler(event: serde_json::Value) -> String { " +
        "format!(\"Hello, {}!\", event[\"name\"].as_str().unwrap_or(\"World\")) }";

    [Fact]
    public async Task Invoke_QuickStartHandler_ReturnsGreetingAsJsonString()
    {
        await using var worker = await fixture.StartWorkerAsync(QuickStart);

        var reply = await worker.InvokeAsync("""{"name":"CrabLambda"}""");

        Assert.True(reply.Ok, reply.Error);
        Assert.Equal("\"Hello, CrabLambda!\"", reply.OutputJson);
    }

    [Fact]
    public async Task Invoke_BareValueParameter_ValueIsInScope()
    {
        const string code = """
            fn handler(event: Value) -> String {
                format!("Hello, {}!", event["name"].as_str().unwrap_or("World"))
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var named = await worker.InvokeAsync("""{"name":"CrabLambda"}""");
        var unnamed = await worker.InvokeAsync("{}");

        Assert.Equal("\"Hello, CrabLambda!\"", named.OutputJson);
        Assert.Equal("\"Hello, World!\"", unnamed.OutputJson);
    }

    [Fact]
    public async Task Invoke_ExplicitImportsOfValueAndJson_CompileBesideThePrelude()
    {
        const string code = """
            use serde_json::{json, Value};

            fn handler(event: Value) -> Value {
                json!({ "echo": event, "keys": ["b", "a"] })
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var reply = await worker.InvokeAsync("""{"z":1,"a":2}""");

        Assert.True(reply.Ok, reply.Error);
        Assert.Equal("""{"echo":{"z":1,"a":2},"keys":["b","a"]}""", reply.OutputJson);
    }

    [Fact]
    public async Task Invoke_ResultHandler_OkIsOutputAndErrIsErrorWithItsMessage()
    {
        const string code = """
            type Result<T> = std::result::Result<T, String>;

            fn handler(event: Value) -> Result<Value> {
                match event["divisor"].as_i64() {
                    Some(0) => Err("cannot divide by zero".to_string()),
                    Some(d) => Ok(json!(100 / d)),
                    None => Err(format!("no divisor in {}", event)),
                }
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var ok = await worker.InvokeAsync("""{"divisor":4}""");
        var err = await worker.InvokeAsync("""{"divisor":0}""");

        Assert.True(ok.Ok, ok.Error);
        Assert.Equal("25", ok.OutputJson);
        Assert.False(err.Ok);
        Assert.Equal("cannot divide by zero", err.Error);
    }

    [Fact]
    public async Task Invoke_ResultWithBoxedError_QuestionMarkErrorBecomesTheMessage()
    {
        const string code = """
            fn handler(event: Value) -> Result<String, Box<dyn std::error::Error>> {
                let n: i32 = event["n"].as_str().unwrap_or("").parse()?;
                Ok((n * 2).to_string())
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var ok = await worker.InvokeAsync("""{"n":"21"}""");
        var err = await worker.InvokeAsync("""{"n":"abc"}""");

        Assert.Equal("\"42\"", ok.OutputJson);
        Assert.False(err.Ok);
        Assert.Equal("invalid digit found in string", err.Error);
    }

    [Fact]
    public async Task Invoke_TypedEventAndSerializeOutput_DeserializesAndSerializes()
    {
        const string code = """
            use serde::{Deserialize, Serialize};

            #[derive(Deserialize)]
            struct Order { items: Vec<Item> }

            #[derive(Deserialize)]
            struct Item { price: f64, quantity: u32 }

            #[derive(Serialize)]
            struct Total { total: f64, count: usize }

            fn handler(order: Order) -> Total {
                let total = order.items.iter().map(|i| i.price * i.quantity as f64).sum();
                Total { total, count: order.items.len() }
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var ok = await worker.InvokeAsync("""{"items":[{"price":2.5,"quantity":2},{"price":1,"quantity":1}]}""");
        var wrong = await worker.InvokeAsync("""{"items":3}""");

        Assert.Equal("""{"total":6.0,"count":2}""", ok.OutputJson);
        Assert.False(wrong.Ok);
        Assert.Contains("does not fit the handler's parameter type", wrong.Error);
    }

    [Fact]
    public async Task Invoke_Panic_IsErrorWithMessageAndLocationAndWorkerServesTheNext()
    {
        const string code = """
            fn handler(event: Value) -> String {
                if event["boom"] == true {
                    panic!("boom requested: {}", event["why"]);
                }
                "fine".to_string()
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var panicked = await worker.InvokeAsync("""{"boom":true,"why":"test"}""");
        var next = await worker.InvokeAsync("{}");

        Assert.False(panicked.Ok);
        Assert.Equal("boom requested: \"test\"", panicked.Error);
        Assert.Equal("panicked at function.rs:3:9", panicked.Trace);
        Assert.Empty(panicked.Stderr);
        Assert.True(next.Ok, next.Error);
        Assert.Equal("\"fine\"", next.OutputJson);
    }

    [Fact]
    public async Task Invoke_NumbersAtTheEdgesOfADouble_ReachTheHandlerCorrectlyRounded()
    {
        await using var worker = await fixture.StartWorkerAsync("fn handler(event: Value) -> Value { event }");
        string[] numbers =
        [
            "1.7976931348623158e308", "-1.7976931348623158e308", "2.2250738585072011e-308", "9007199254740993.0",
            "7.038531e-26", "2.4703282292062328e-324",
        ];

        var reply = await worker.InvokeAsync($"[{string.Join(",", numbers)}]");

        Assert.True(reply.Ok, reply.Error);
        var echoed = System.Text.Json.JsonDocument.Parse(reply.OutputJson!).RootElement.EnumerateArray()
            .Select(number => number.GetDouble());
        Assert.Equal(numbers.Select(n => double.Parse(n, System.Globalization.CultureInfo.InvariantCulture)), echoed);
    }

    [Fact]
    public async Task Invoke_EventSerdeJsonCannotHold_IsErrorAndTheWorkerServesTheNext()
    {
        await using var worker = await fixture.StartWorkerAsync(QuickStart);

        var unreadable = await worker.InvokeAsync("""{"name":1e400}""");
        var next = await worker.InvokeAsync("""{"name":"again"}""");

        Assert.False(unreadable.Ok);
        Assert.StartsWith("the Rust runtime cannot read the event: number out of range", unreadable.Error);
        Assert.False(worker.Process.HasExited);
        Assert.True(next.Ok, next.Error);
        Assert.Equal("\"Hello, again!\"", next.OutputJson);
    }

    [Fact]
    public async Task Invoke_PanicOnASpawnedThread_IsReportedOnStderrAndTheHandlerGoesOn()
    {
        const string code = """
            fn handler(_event: Value) -> String {
                let joined = std::thread::spawn(|| panic!("inner failure")).join();
                format!("joined with error: {}", joined.is_err())
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var reply = await worker.InvokeAsync("{}");

        Assert.True(reply.Ok, reply.Error);
        Assert.Equal("\"joined with error: true\"", reply.OutputJson);
        Assert.Equal(["thread '<unnamed>' panicked at function.rs:2:40: inner failure"], reply.Stderr);
    }

    [Fact]
    public async Task Invoke_PrintlnAndEprintln_AreLogLinesOfTheirInvocationOnly()
    {
        const string code = """
            fn handler(event: Value) -> Value {
                println!("first {}", event["n"]);
                print!("no newline at the end");
                eprintln!("warning {}", event["n"]);
                json!(event["n"])
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var first = await worker.InvokeAsync("""{"n":1}""");
        var second = await worker.InvokeAsync("""{"n":2}""");

        Assert.Equal(["first 1", "no newline at the end"], first.Stdout);
        Assert.Equal(["warning 1"], first.Stderr);
        Assert.Equal(["first 2", "no newline at the end"], second.Stdout);
        Assert.Equal("2", second.OutputJson);
    }

    [Fact]
    public async Task Invoke_ContextParameter_GetsFunctionNameAndTimeLeft()
    {
        const string code = """
            fn handler(_event: Value, context: Context) -> Value {
                json!({
                    "name": context.function_name,
                    "memory": context.memory_limit_mb,
                    "has_time": context.remaining_time().as_millis() > 0,
                })
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var reply = await worker.InvokeAsync("{}", functionName: "with-context");

        Assert.Equal("""{"name":"with-context","memory":128,"has_time":true}""", reply.OutputJson);
    }

    [Fact]
    public async Task Invoke_StateBetweenInvocations_WorkerStaysWarm()
    {
        const string code = """
            use std::sync::atomic::{AtomicUsize, Ordering};

            static CALLS: AtomicUsize = AtomicUsize::new(0);

            fn handler(_event: Value) -> usize {
                CALLS.fetch_add(1, Ordering::SeqCst) + 1
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var first = await worker.InvokeAsync("{}");
        var second = await worker.InvokeAsync("{}");

        Assert.Equal("1", first.OutputJson);
        Assert.Equal("2", second.OutputJson);
    }

    [Fact]
    public async Task Worker_EnvironmentAndSocketEndOfFile_HidesSocketVariableAndExitsCleanly()
    {
        const string code = """
            fn handler(_event: Value) -> bool {
                std::env::var_os("CRABLAMBDA_SOCKET").is_some()
            }
            """;
        await using var worker = await fixture.StartWorkerAsync(code);

        var reply = await worker.InvokeAsync("{}");
        var exitCode = await worker.CloseAsync();

        Assert.Equal("false", reply.OutputJson);
        Assert.Equal(0, exitCode);
    }
}
