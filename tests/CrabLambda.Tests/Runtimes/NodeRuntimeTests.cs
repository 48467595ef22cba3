using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Node;
using CrabLambda.Tests.Execution.Process;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CrabLambda.Tests.Runtimes;

/// <summary>
/// The Node.js runtime and its worker program, run on the real node through the process executor.
/// </summary>
public sealed class NodeRuntimeTests : IAsyncLifetime
{
    private const string Misbehaving = """
        exports.handler = async (event, context) => {
          switch (event.mode) {
            case "throw": throw new TypeError("boom");
            case "number": throw 42;
            case "object": throw { a: 1 };
            case "string": throw "a string";
            case "null": throw null;
            case "message": throw { message: 1 };
            case "getter": {
              const error = new Error("the real message");
              Object.defineProperty(error, "name", { get() { throw new Error("from the name getter"); } });
              throw error;
            }
            case "structured": { const error = new Error(); error.message = { code: 7 }; throw error; }
            case "trap": throw new Proxy({}, { getPrototypeOf() { throw new Error("from the trap"); } });
            case "inspect": throw { [Symbol.for("nodejs.util.inspect.custom")]() { throw new Error("no"); } };
            case "bigint": return { n: 10n };
            case "nan": return NaN;
            case "infinity": return { list: [1, -Infinity] };
            case "boxed": return { n: new Number(Infinity) };
            case "circular": { const o = {}; o.self = o; return o; }
            case "function": return () => 1;
            case "exit": process.exit(3);
            case "kill": process.kill(process.pid, "SIGKILL"); return await new Promise(() => {});
            case "never": return await new Promise(() => {});
            case "loop": for (;;) {}
            case "undefined": return undefined;
            default: return { pid: process.pid };
          }
        };
        """;

    private const string Nesting = """
        exports.handler = async (event) => {
          if (Array.isArray(event)) {
            return event;
          }
          let value = 0;
          for (let i = 0; i < event.depth; i++) {
            value = [value];
          }
          return value;
        };
        """;

    private const string LeavesErrorsBehind = """
        const fs = require("fs");

        exports.handler = async (event) => {
          if (event.mode === "timer") {
            setTimeout(() => {
              fs.writeFileSync(event.flag, "");
              throw new Error("thrown after returning");
            }, 50);
          }
          if (event.mode === "watch") {
            const watch = setInterval(() => {
              if (fs.existsSync(event.flag)) {
                clearInterval(watch);
                throw new RangeError("left behind by an earlier invocation");
              }
            }, 10);
          }
          if (event.mode === "trigger") {
            fs.writeFileSync(event.flag, "");
            return new Promise(() => {});
          }
          if (event.mode === "reject") {
            Promise.reject(new TypeError("nobody caught this"));
            return new Promise(() => {});
          }
          return process.pid;
        };
        """;

    private ExecutorHarness _harness = null!;
    private string _scratch = null!;

    public Task InitializeAsync()
    {
        _harness = new ExecutorHarness();
        _scratch = Directory.CreateTempSubdirectory("crablambda-node-").FullName;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _harness.DisposeAsync();
        Directory.Delete(_scratch, recursive: true);
    }

    [Fact]
    public async Task Invoke_ExportedHandler_ReturnsOutputLogsAndMemory()
    {
        var version = _harness.DeployNode("""
            console.log("loading");
            exports.handler = async (event, context) => {
              console.log("one");
              console.error("two");
              console.log("three");
              process.stderr.write("four\n");
              return { greeting: "hi " + event.name, function: context.functionName };
            };
            """);

        var outcome = await _harness.InvokeAsync(version, """{"name": "crab"}""");

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("""{"greeting":"hi crab","function":"test-function"}""", outcome.Output);
        Assert.Equal(["loading", "one", "three"], ExecutorHarness.Lines(outcome, "info"));
        Assert.Equal(["two", "four"], ExecutorHarness.Lines(outcome, "error"));
        Assert.True(outcome.MemoryUsedMb > 1);
    }

    [Fact]
    public async Task Invoke_OutputLargerThanThePipeHolds_StaysWithItsOwnInvocation()
    {
        // A pipe holds 64 KiB; what Node cannot write at once waits in the stream and reaches the pipe later.
        var version = _harness.DeployNode("""
            exports.handler = async (event, context) => {
              process.stdout.write("o".repeat(event.n) + "\n");
              process.stderr.write("e".repeat(event.n) + "\n");
              console.log("end of " + event.name);
              console.error("end of " + event.name);
              return event.name;
            };
            """);

        var first = await _harness.InvokeAsync(version, """{"n": 200000, "name": "first"}""");
        var second = await _harness.InvokeAsync(version, """{"n": 10, "name": "second"}""");

        foreach (var (outcome, name) in new[] { (first, "first"), (second, "second") })
        {
            Assert.Equal(ExecutionStatus.Success, outcome.Status);
            foreach (var level in new[] { "info", "error" })
            {
                var lines = ExecutorHarness.Lines(outcome, level).ToArray();
                Assert.Equal(2, lines.Length);
                Assert.Equal($"end of {name}", lines[^1]);
            }
        }
    }

    [Fact]
    public async Task Invoke_TopLevelFunctionNotExported_IsFound()
    {
        var version = _harness.DeployNode(
            "function handler(event) { return 'Hello, CrabLambda!'; }\n// a comment without a newline at the end");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("\"Hello, CrabLambda!\"", outcome.Output);
    }

    [Fact]
    public async Task Invoke_TopLevelConstArrowFunction_IsFound()
    {
        var version = _harness.DeployNode("'use strict';\nconst handler = async (event) => event.x + 1;\n");

        var outcome = await _harness.InvokeAsync(version, """{"x": 41}""");

        Assert.Equal("42", outcome.Output);
    }

    [Fact]
    public async Task Invoke_ExportAndTopLevelFunction_PrefersTheExport()
    {
        var version = _harness.DeployNode("""
            function handler() { return "top-level"; }
            module.exports = { handler: () => "exported" };
            """);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal("\"exported\"", outcome.Output);
    }

    [Fact]
    public async Task Invoke_EventAndContext_AreTheInvocations()
    {
        var version = _harness.DeployNode("""
            exports.handler = (event, context) => ({
              event,
              name: context.functionName,
              version: context.functionVersion,
              id: context.executionId,
              aws: context.awsRequestId,
              memory: context.memoryLimitInMB,
              remaining: context.getRemainingTimeInMillis(),
            });
            """);
        var executionId = Guid.CreateVersion7();

        var outcome = await _harness.InvokeAsync(version, executionId, """{"a":[1,2.5,true,null],"b":"é ✓"}""");

        using var output = JsonDocument.Parse(outcome.Output!);
        var root = output.RootElement;
        Assert.Equal("""{"a":[1,2.5,true,null],"b":"é ✓"}""", root.GetProperty("event").GetRawText());
        Assert.Equal("test-function", root.GetProperty("name").GetString());
        Assert.Equal(1, root.GetProperty("version").GetInt32());
        Assert.Equal(executionId.ToString(), root.GetProperty("id").GetString());
        Assert.Equal(executionId.ToString(), root.GetProperty("aws").GetString());
        Assert.Equal(128, root.GetProperty("memory").GetInt32());
        Assert.InRange(root.GetProperty("remaining").GetInt64(), 1, 30_000);
    }

    [Fact]
    public async Task Invoke_UndefinedResult_IsJsonNull()
    {
        var version = _harness.DeployNode(Misbehaving);

        var outcome = await _harness.InvokeAsync(version, """{"mode": "undefined"}""");

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("null", outcome.Output);
    }

    [Theory]
    [InlineData("throw", "TypeError: boom")]
    [InlineData("number", "The handler threw a value that is not an Error: 42")]
    [InlineData("object", "The handler threw a value that is not an Error: { a: 1 }")]
    [InlineData("string", "The handler threw a value that is not an Error: 'a string'")]
    [InlineData("null", "The handler threw a value that is not an Error: null")]
    [InlineData("message", "The handler threw a value that is not an Error: { message: 1 }")]
    [InlineData("getter", "Error: the real message")]
    [InlineData("structured", "Error: { code: 7 }")]
    [InlineData("trap", "The handler threw a value that is not an Error: {}")]
    [InlineData("inspect", "The handler threw a value that is not an Error: a value util.inspect cannot show")]
    [InlineData("bigint", "not JSON: Do not know how to serialize a BigInt")]
    [InlineData("nan", "not JSON: NaN is not a JSON number.")]
    [InlineData("infinity", "not JSON: -Infinity is not a JSON number (at \"1\").")]
    [InlineData("boxed", "not JSON: Infinity is not a JSON number (at \"n\").")]
    [InlineData("circular", "not JSON: Converting circular structure to JSON")]
    [InlineData("function", "not JSON: a function cannot be serialised")]
    [InlineData("exit", "The function exited with code 3 before it returned a result.")]
    [InlineData("kill", "killed by signal 9")]
    public async Task Invoke_Misbehaviour_IsAnErrorAndTheNextInvocationWorks(string mode, string expected)
    {
        var version = _harness.DeployNode(Misbehaving);

        var failed = await _harness.InvokeAsync(version, $$"""{"mode": "{{mode}}"}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, failed.Status);
        Assert.Contains(expected, failed.Error);
        Assert.Null(failed.Output);
        Assert.Equal(ExecutionStatus.Success, next.Status);
    }

    [Fact]
    public async Task Invoke_EventNested256Levels_ComesBackAsTheOutput()
    {
        var version = _harness.DeployNode(Nesting);
        var nested = Nested(256);

        var outcome = await _harness.InvokeAsync(version, nested);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal(nested, outcome.Output);
    }

    [Fact]
    public async Task Invoke_OutputNested257Levels_IsAnErrorSayingSoAndTheNextInvocationWorks()
    {
        var version = _harness.DeployNode(Nesting);

        var tooDeep = await _harness.InvokeAsync(version, """{"depth": 257}""");
        var next = await _harness.InvokeAsync(version, """{"depth": 2}""");

        Assert.Equal(ExecutionStatus.Error, tooDeep.Status);
        Assert.Contains("output nested deeper than 256 levels", tooDeep.Error);
        Assert.DoesNotContain("protocol", tooDeep.Error);
        Assert.Equal("[[0]]", next.Output);
    }

    [Fact]
    public async Task Invoke_OutputWithNulls_IsKeptAsWritten()
    {
        var version = _harness.DeployNode(
            "exports.handler = async () => ({ a: null, b: 'null', c: [null, 1.5], d: undefined, e: new Date(0) });");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("""{"a":null,"b":"null","c":[null,1.5],"e":"1970-01-01T00:00:00.000Z"}""", outcome.Output);
    }

    [Fact]
    public async Task Invoke_TimerThrowsBetweenInvocations_ItsStackIsInTheNextInvocationsLogsOnTheSameWorker()
    {
        var version = _harness.DeployNode(LeavesErrorsBehind);
        var flag = Path.Combine(_scratch, "thrown");

        var armed = await _harness.InvokeAsync(version, JsonSerializer.Serialize(new { mode = "timer", flag }));
        await ExecutorHarness.WaitUntilAsync(() => File.Exists(flag), "the timer ran");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, armed.Status);
        Assert.Equal(ExecutionStatus.Success, next.Status);
        Assert.Equal(armed.Output, next.Output);
        var logged = string.Join("\n", ExecutorHarness.Lines(next, "error"));
        Assert.StartsWith(
            "Uncaught exception (thrown by a timer or callback, outside the handler's promise): "
                + "Error: thrown after returning\n    at ",
            logged);
        Assert.Contains("(function.cjs:7:", logged);
    }

    [Fact]
    public async Task Invoke_TimerOfAnEarlierInvocationThrowsDuringThisOne_FailsItWithTheErrorAndTheWorkerGoesOn()
    {
        var version = _harness.DeployNode(LeavesErrorsBehind);
        var flag = Path.Combine(_scratch, "trigger");

        var watching = await _harness.InvokeAsync(version, JsonSerializer.Serialize(new { mode = "watch", flag }));
        var failed = await _harness.InvokeAsync(version, JsonSerializer.Serialize(new { mode = "trigger", flag }));
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, failed.Status);
        Assert.StartsWith(
            "Uncaught exception (thrown by a timer or callback, outside the handler's promise): "
                + "RangeError: left behind by an earlier invocation\n    at ",
            failed.Error);
        Assert.Contains("(function.cjs:14:", failed.Error);
        Assert.Equal(ExecutionStatus.Success, next.Status);
        Assert.Equal(watching.Output, next.Output);
    }

    [Fact]
    public async Task Invoke_UnhandledRejection_FailsTheInvocationWithTheErrorAndTheWorkerGoesOn()
    {
        var version = _harness.DeployNode(LeavesErrorsBehind);

        var first = await _harness.InvokeAsync(version);
        var failed = await _harness.InvokeAsync(version, """{"mode": "reject"}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, failed.Status);
        Assert.StartsWith(
            "Unhandled promise rejection (a promise nothing awaited or caught): TypeError: nobody caught this\n",
            failed.Error);
        Assert.Contains("(function.cjs:23:", failed.Error);
        Assert.Equal(first.Output, next.Output);
    }

    [Fact]
    public async Task Invoke_ChildProcess_DoesNotInheritTheProtocolSocket()
    {
        var version = _harness.DeployNode("""
            const { execFileSync } = require("child_process");
            const listing = "cd /proc/$$/fd && for f in *; do echo $f $(readlink $f); done";

            exports.handler = async () => execFileSync("/bin/sh", ["-c", listing], { encoding: "utf8" });
            """);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        var descriptors = JsonSerializer.Deserialize<string>(outcome.Output!)!
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', 2))
            .ToDictionary(parts => int.Parse(parts[0]), parts => parts.Length > 1 ? parts[1] : "");
        Assert.Subset(descriptors.Keys.ToHashSet(), new HashSet<int> { 0, 1, 2 });
        Assert.DoesNotContain(descriptors, d => d.Key > 2 && d.Value.StartsWith("socket:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Invoke_ThrownError_HasTheStackOfTheFunctionOnly()
    {
        var version = _harness.DeployNode(Misbehaving);

        var outcome = await _harness.InvokeAsync(version, """{"mode": "throw"}""");

        Assert.StartsWith("TypeError: boom\n    at ", outcome.Error);
        Assert.Contains("(function.cjs:3:", outcome.Error);
        Assert.DoesNotContain("worker", outcome.Error);
    }

    [Theory]
    [InlineData("never")]
    [InlineData("loop")]
    public async Task Invoke_PastTheTimeout_IsATimeoutAndTheNextInvocationWorks(string mode)
    {
        var version = ExecutorHarness.Deploy(_harness.Node, Misbehaving, timeoutSecs: 1);

        var timedOut = await _harness.InvokeAsync(version, $$"""{"mode": "{{mode}}"}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Timeout, timedOut.Status);
        Assert.Contains("timeout of 1 s", timedOut.Error);
        Assert.Equal(ExecutionStatus.Success, next.Status);
    }

    [Fact]
    public async Task Invoke_SyntaxError_IsAnErrorWithNodesMessage()
    {
        var version = _harness.DeployNode("exports.handler = (event) => {\n  return event +;\n};\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.StartsWith("SyntaxError: Unexpected token", outcome.Error);
        Assert.Contains("\nfunction.cjs:2\n", outcome.Error);
    }

    [Fact]
    public async Task Invoke_EsModuleSyntax_IsAnError()
    {
        var version = _harness.DeployNode("export const handler = () => 1;\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.StartsWith("SyntaxError:", outcome.Error);
    }

    [Theory]
    [InlineData("exports.other = () => 1;", "handler")]
    [InlineData("const handler = 5;", "handler")]
    [InlineData("exports.handler = () => 1;", "fetch")]
    [InlineData("x = 1;", "constructor")]
    [InlineData("x = 1;", "toString")]
    [InlineData("x = 1;", "hasOwnProperty")]
    [InlineData("x = 1;", "valueOf")]
    [InlineData("x = 1;", "__defineGetter__")]
    [InlineData("x = 1;", "__proto__")]
    [InlineData("module.exports = () => 1;", "call")]
    [InlineData("class Handlers { handler() {} }\nmodule.exports = new Handlers();", "constructor")]
    public async Task Invoke_NoSuchFunction_IsAnErrorNamingIt(string code, string handler)
    {
        var version = _harness.DeployNode(code, handler: handler);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.Equal(
            $"The module exports no function named '{handler}' and declares no top-level function of that name.",
            outcome.Error);
    }

    [Fact]
    public async Task Invoke_TopLevelFunctionNamedLikeAGlobal_IsTheModules()
    {
        var version = _harness.DeployNode("function fetch() { return 'mine'; }\n", handler: "fetch");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal("\"mine\"", outcome.Output);
    }

    [Theory]
    [InlineData("function toString() { return 'mine'; }\n", "toString")]
    [InlineData("exports.constructor = () => 'mine';\n", "constructor")]
    [InlineData("module.exports = { valueOf: () => 'mine' };\n", "valueOf")]
    [InlineData("class Handlers { handler() { return 'mine'; } }\nmodule.exports = new Handlers();\n", "handler")]
    [InlineData("class A { handler() { return 'mine'; } }\nclass B extends A {}\nmodule.exports = new B();", "handler")]
    [InlineData("class H { constructor() { this.g = 'mine'; } handler() { return this.g; } }\nexports.h = new H();\n"
        + "module.exports = exports.h;", "handler")]
    public async Task Invoke_FunctionNamedLikeAnInheritedProperty_IsTheModules(string code, string handler)
    {
        var version = _harness.DeployNode(code, handler: handler);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal("\"mine\"", outcome.Output);
    }

    [Fact]
    public async Task Invoke_LoadTimeThrow_IsAnErrorWithTheStack()
    {
        var version = _harness.DeployNode("console.log('about to fail');\nthrow new Error('broken at load');\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.StartsWith("Error: broken at load", outcome.Error);
        Assert.Equal(["about to fail"], ExecutorHarness.Lines(outcome, "info"));
    }

    [Fact]
    public async Task Invoke_ProcessExitWhileLoading_IsAnError()
    {
        var version = _harness.DeployNode("process.exit(5);\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal("The function exited with code 5 before it was ready.", outcome.Error);
    }

    [Theory]
    [InlineData("handler", true)]
    [InlineData("$handler_2", true)]
    [InlineData("münze", true)]
    [InlineData("", false)]
    [InlineData("2fast", false)]
    [InlineData("a-b", false)]
    [InlineData("index.handler", false)]
    [InlineData("handler()", false)]
    [InlineData("function", false)]
    [InlineData("require", false)]
    [InlineData("module", false)]
    public void ValidateHandler_Name_AcceptsOnlyIdentifiers(string handler, bool valid)
    {
        Assert.Equal(valid, _harness.Node.ValidateHandler(handler) is null);
    }

    [Fact]
    public void Name_IsNodeWithTheAliasNodejs()
    {
        Assert.Equal("node", _harness.Node.Name);
        Assert.Equal(["nodejs"], _harness.Node.Aliases);
    }

    [Fact]
    public async Task GetLaunch_Interpreter_IsAnAbsolutePathAndTheCodeIsCommonJs()
    {
        var version = _harness.DeployNode("exports.handler = () => 1;\n");
        var directory = Directory.CreateTempSubdirectory("crablambda-code-").FullName;
        try
        {
            var launch = await _harness.Node.GetLaunchAsync(version, directory, CancellationToken.None);

            Assert.True(Path.IsPathRooted(launch.Executable));
            Assert.True(File.Exists(launch.Executable));
            var module = Path.Combine(directory, "function.cjs");
            Assert.StartsWith("exports.handler = () => 1;\n", File.ReadAllText(module));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task GetLaunch_InterpreterMissing_IsUnavailableNamingItAndItsVariable()
    {
        var node = new NodeRuntime(
            Options.Create(new CrabLambdaOptions { WorkDirectory = _harness.WorkDirectory }),
            Options.Create(new NodeRuntimeOptions { Interpreter = "/no/such/node" }),
            TimeProvider.System,
            NullLogger<NodeRuntime>.Instance);
        var version = _harness.DeployNode("exports.handler = () => 1;\n");

        var error = await Assert.ThrowsAsync<RuntimeUnavailableException>(
            () => node.GetLaunchAsync(version, _harness.WorkDirectory, CancellationToken.None));

        Assert.Contains("/no/such/node", error.Message);
        Assert.Contains(NodeRuntime.InterpreterVariable, error.Message);
    }

    [Fact]
    public async Task GetLaunch_InvalidHandler_ThrowsBeforeAnyCodeIsWritten()
    {
        var version = _harness.DeployNode("x = 1;\n", handler: "a;process.exit(1)");
        var directory = Directory.CreateTempSubdirectory("crablambda-code-").FullName;
        try
        {
            await Assert.ThrowsAsync<FunctionCodeException>(
                () => _harness.Node.GetLaunchAsync(version, directory, CancellationToken.None));

            Assert.Empty(Directory.GetFiles(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Nested(int depth) => new string('[', depth) + "0" + new string(']', depth);
}
