using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Python;
using CrabLambda.Tests.Execution.Process;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CrabLambda.Tests.Runtimes;

/// <summary>
/// The Python runtime and its worker program, run on the real python3 through the process executor.
/// </summary>
public sealed class PythonRuntimeTests : IAsyncLifetime
{
    private const string Misbehaving = """
        import asyncio, os, signal, sys, time

        def handler(event, context):
            mode = event.get("mode")
            if mode == "raise":
                raise ValueError("boom")
            if mode == "set":
                return {1, 2}
            if mode == "nan":
                return float("nan")
            if mode == "exit":
                sys.exit(3)
            if mode == "exit_message":
                raise SystemExit("the function gave up")
            if mode == "os_exit":
                os._exit(3)
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "sleep":
                time.sleep(600)
            if mode == "loop":
                while True:
                    pass
            if mode == "never":
                return asyncio.get_event_loop().create_future()
            if mode == "none":
                return None
            return {"pid": os.getpid()}
        """;

    private const string RaisesUnusually = """
        import asyncio, os

        class Boom(BaseException):
            pass

        class Unprintable(Exception):
            def __str__(self):
                raise ValueError("no text")

        class Items(dict):
            def items(self):
                raise KeyError("items")

        async def interrupted():
            raise KeyboardInterrupt("stopped while awaiting")

        def handler(event):
            mode = event.get("mode")
            if mode == "keyboard":
                raise KeyboardInterrupt("stop here")
            if mode == "boom":
                raise Boom("a class of its own")
            if mode == "generator":
                raise GeneratorExit("closed")
            if mode == "cancelled":
                raise asyncio.CancelledError("cancelled by the function")
            if mode == "async":
                return interrupted()
            if mode == "unprintable":
                raise Unprintable()
            if mode == "items":
                return Items(a=1)
            return os.getpid()
        """;

    private const string ReturnsPidCode = "import os\n\ndef handler(event):\n    return os.getpid()\n";

    private const string Nesting = """
        def handler(event):
            if not isinstance(event, dict):
                return event
            value = 0
            for _ in range(event["depth"]):
                value = [value]
            return value
        """;

    private ExecutorHarness _harness = null!;

    public Task InitializeAsync()
    {
        _harness = new ExecutorHarness();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    [Fact]
    public async Task Invoke_HandlerWithContext_ReturnsOutputLogsAndMemory()
    {
        var version = _harness.DeployPython("""
            import sys
            print("loading")

            def handler(event, context):
                print("one")
                print("two", file=sys.stderr)
                print("three")
                sys.stderr.write("four\n")
                return {"greeting": "hi " + event["name"], "function": context.function_name}
            """);

        var outcome = await _harness.InvokeAsync(version, """{"name": "crab"}""");

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("""{"greeting":"hi crab","function":"test-function"}""", outcome.Output);
        Assert.Null(outcome.Error);
        Assert.Equal(["loading", "one", "three"], ExecutorHarness.Lines(outcome, "info"));
        Assert.Equal(["two", "four"], ExecutorHarness.Lines(outcome, "error"));
        Assert.True(outcome.MemoryUsedMb > 1);
    }

    [Fact]
    public async Task Invoke_StringResult_IsAJsonString()
    {
        var version = _harness.DeployPython("def handler(event):\n    return 'Hello, CrabLambda!'\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal("\"Hello, CrabLambda!\"", outcome.Output);
    }

    [Fact]
    public async Task Invoke_EventOnlyHandler_GetsTheEventUnchanged()
    {
        var version = _harness.DeployPython("def handler(event):\n    return event\n");

        var outcome = await _harness.InvokeAsync(version, """{"a":[1,2.5,true,null],"b":"é ✓","c":{}}""");

        Assert.Equal("""{"a":[1,2.5,true,null],"b":"é ✓","c":{}}""", outcome.Output);
    }

    [Fact]
    public async Task Invoke_Context_CarriesTheInvocationsFacts()
    {
        var version = _harness.DeployPython("""
            def handler(event, context):
                return {
                    "name": context.function_name,
                    "version": context.function_version,
                    "id": context.execution_id,
                    "aws": context.aws_request_id,
                    "memory": context.memory_limit_in_mb,
                    "remaining": context.get_remaining_time_in_millis(),
                }
            """);
        var executionId = Guid.CreateVersion7();

        var outcome = await _harness.InvokeAsync(version, executionId);

        using var output = JsonDocument.Parse(outcome.Output!);
        var root = output.RootElement;
        Assert.Equal("test-function", root.GetProperty("name").GetString());
        Assert.Equal(1, root.GetProperty("version").GetInt32());
        Assert.Equal(executionId.ToString(), root.GetProperty("id").GetString());
        Assert.Equal(executionId.ToString(), root.GetProperty("aws").GetString());
        Assert.Equal(128, root.GetProperty("memory").GetInt32());
        Assert.InRange(root.GetProperty("remaining").GetInt64(), 1, 30_000);
    }

    [Fact]
    public async Task Invoke_AsyncHandler_IsAwaited()
    {
        var version = _harness.DeployPython("""
            import asyncio

            async def handler(event, context):
                await asyncio.sleep(0.01)
                return event["x"] * 2
            """);

        var outcome = await _harness.InvokeAsync(version, """{"x": 21}""");

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("42", outcome.Output);
    }

    [Theory]
    [InlineData("def handler(event):\n    return [event]\n")]
    [InlineData("def handler(event, context=None, *, extra=1):\n    return [event, context is not None]\n")]
    [InlineData("def handler(*args):\n    return [args[0], len(args) == 2]\n")]
    [InlineData("import functools\ndef wrap(f):\n    @functools.wraps(f)\n    def inner(*a):\n        return f(*a)\n"
        + "    return inner\n@wrap\ndef handler(event):\n    return [event]\n")]
    [InlineData("class H:\n    def __call__(self, event, context):\n        return [event, True]\nhandler = H()\n")]
    public async Task Invoke_HandlerSignature_GetsTheArgumentsItTakes(string code)
    {
        var version = _harness.DeployPython(code);

        var outcome = await _harness.InvokeAsync(version, "7");

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.StartsWith("[7", outcome.Output);
        Assert.DoesNotContain("false", outcome.Output);
    }

    [Fact]
    public async Task Invoke_AwaitableOnTheFunctionsOwnLoop_IsAwaitedOnThatLoop()
    {
        var version = _harness.DeployPython("""
            import asyncio

            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            def handler(event):
                future = loop.create_future()
                loop.call_soon(future.set_result, "done")
                return future
            """);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("\"done\"", outcome.Output);
    }

    [Fact]
    public async Task Invoke_NoneResult_IsJsonNull()
    {
        var version = _harness.DeployPython(Misbehaving);

        var outcome = await _harness.InvokeAsync(version, """{"mode": "none"}""");

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal("null", outcome.Output);
    }

    [Theory]
    [InlineData("raise", "ValueError: boom")]
    [InlineData("set", "not JSON")]
    [InlineData("nan", "not JSON")]
    [InlineData("exit", "exited with code 3")]
    [InlineData("exit_message", "exited with code 1")]
    [InlineData("os_exit", "exited with code 3")]
    [InlineData("kill", "killed by signal 9")]
    public async Task Invoke_Misbehaviour_IsAnErrorAndTheNextInvocationWorks(string mode, string expected)
    {
        var version = _harness.DeployPython(Misbehaving);

        var failed = await _harness.InvokeAsync(version, $$"""{"mode": "{{mode}}"}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, failed.Status);
        Assert.Contains(expected, failed.Error);
        Assert.Null(failed.Output);
        Assert.Equal(ExecutionStatus.Success, next.Status);
    }

    [Theory]
    [InlineData("keyboard", "KeyboardInterrupt: stop here")]
    [InlineData("boom", "Boom: a class of its own")]
    [InlineData("generator", "GeneratorExit: closed")]
    [InlineData("cancelled", "CancelledError: cancelled by the function")]
    [InlineData("async", "KeyboardInterrupt: stopped while awaiting")]
    [InlineData("unprintable", "Unprintable: <exception str() failed>")]
    [InlineData("items", "The handler's return value could not be serialised: KeyError: 'items'")]
    public async Task Invoke_UnusualRaise_IsAnErrorWithItsMessageAndTheSameWorkerServesOn(
        string mode,
        string expected)
    {
        var version = _harness.DeployPython(RaisesUnusually);
        var before = await _harness.InvokeAsync(version);

        var failed = await _harness.InvokeAsync(version, $$"""{"mode": "{{mode}}"}""");
        var after = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, failed.Status);
        Assert.Equal(expected, failed.Error!.Split('\n')[0]);
        Assert.Contains("File \"function.py\"", failed.Error);
        Assert.Null(failed.Output);
        Assert.Equal(ExecutionStatus.Success, after.Status);
        Assert.Equal(before.Output, after.Output);
    }

    [Fact]
    public async Task Invoke_SystemExitWithAMessage_EndsTheWorkerWithTheMessageInTheLogs()
    {
        var version = _harness.DeployPython(Misbehaving);
        var before = await _harness.InvokeAsync(version);

        var failed = await _harness.InvokeAsync(version, """{"mode": "exit_message"}""");
        var after = await _harness.InvokeAsync(version);

        Assert.Equal("The function exited with code 1 before it returned a result.", failed.Error);
        Assert.Equal(["the function gave up"], ExecutorHarness.Lines(failed, "error"));
        Assert.NotEqual(before.Output, after.Output);
    }

    [Fact]
    public async Task Invoke_EventNested256Levels_ComesBackAsTheOutput()
    {
        var version = _harness.DeployPython(Nesting);
        var nested = Nested(256);

        var outcome = await _harness.InvokeAsync(version, nested);

        Assert.Equal(ExecutionStatus.Success, outcome.Status);
        Assert.Equal(nested, outcome.Output);
    }

    [Fact]
    public async Task Invoke_OutputNested257Levels_IsAnErrorSayingSoAndTheNextInvocationWorks()
    {
        var version = _harness.DeployPython(Nesting);

        var tooDeep = await _harness.InvokeAsync(version, """{"depth": 257}""");
        var next = await _harness.InvokeAsync(version, """{"depth": 2}""");

        Assert.Equal(ExecutionStatus.Error, tooDeep.Status);
        Assert.Contains("output nested deeper than 256 levels", tooDeep.Error);
        Assert.DoesNotContain("protocol", tooDeep.Error);
        Assert.Equal("[[0]]", next.Output);
    }

    [Fact]
    public async Task Invoke_FunctionWritesAResultToDescriptor3_DoesNotReachTheProtocolSocket()
    {
        var version = _harness.DeployPython("""
            import errno, os

            def handler(event):
                try:
                    os.write(3, b'{"type":"result","id":"x","ok":true,"output":1}\n')
                    return "written"
                except OSError as error:
                    return errno.errorcode[error.errno]
            """);

        var outcome = await _harness.InvokeAsync(version);
        var next = await _harness.InvokeAsync(version);

        Assert.Equal("\"EBADF\"", outcome.Output);
        Assert.Equal("\"EBADF\"", next.Output);
    }

    [Fact]
    public async Task Invoke_FunctionWritesJsonToTheProtocolSocket_IsAMalformedFrameAndTheNextInvocationWorks()
    {
        var version = _harness.DeployPython("""
            import os

            def handler(event):
                if not event.get("write"):
                    return "fine"
                for name in os.listdir("/proc/self/fd"):
                    try:
                        target = os.readlink("/proc/self/fd/" + name)
                    except OSError:
                        continue
                    if target.startswith("socket:"):
                        os.write(int(name), b'{"type":"result","id":"x","ok":true,"output":1}\n')
                        return int(name)
                return None
            """);

        var broken = await _harness.InvokeAsync(version, """{"write": true}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, broken.Status);
        Assert.StartsWith(
            "The worker broke the worker protocol: It sent a malformed frame: its length prefix 7B227479 announces "
                + "2065855609 bytes",
            broken.Error);
        Assert.EndsWith("Writing to the worker's protocol socket from the function does this.", broken.Error);
        Assert.Equal("\"fine\"", next.Output);
    }

    [Fact]
    public async Task Invoke_FunctionSendsAResultOfItsOwn_ReplacesItsResultAndBreaksOnlyItsWorkersNextInvocation()
    {
        var version = _harness.DeployPython("""
            import json, os, struct

            def handler(event, context):
                if not event.get("forge"):
                    return os.getpid()
                for name in os.listdir("/proc/self/fd"):
                    try:
                        target = os.readlink("/proc/self/fd/" + name)
                    except OSError:
                        continue
                    if target.startswith("socket:"):
                        frame = {"type": "result", "id": context.execution_id, "ok": True, "output": "forged"}
                        payload = json.dumps(frame).encode()
                        os.write(int(name), struct.pack(">I", len(payload)) + payload)
                return "genuine"
            """);
        var other = _harness.DeployPython(ReturnsPidCode);

        var forged = await _harness.InvokeAsync(version, """{"forge": true}""");
        var next = await _harness.InvokeAsync(version);
        var afterThat = await _harness.InvokeAsync(version);
        var unaffected = await _harness.InvokeAsync(other);

        Assert.Equal(ExecutionStatus.Success, forged.Status);
        Assert.Equal("\"forged\"", forged.Output);
        Assert.Equal(ExecutionStatus.Error, next.Status);
        Assert.Equal("The worker broke the worker protocol: it answered another execution.", next.Error);
        Assert.Equal(ExecutionStatus.Success, afterThat.Status);
        Assert.Equal(ExecutionStatus.Success, unaffected.Status);
    }

    [Fact]
    public async Task Invoke_ChildProcess_DoesNotInheritTheProtocolSocket()
    {
        var version = _harness.DeployPython("""
            import subprocess

            def handler(event):
                listing = "cd /proc/$$/fd && for f in *; do echo $f $(readlink $f); done"
                return subprocess.run(["/bin/sh", "-c", listing], capture_output=True, text=True).stdout
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
    public async Task Invoke_RaisedException_HasTheTracebackOfTheFunctionOnly()
    {
        var version = _harness.DeployPython(Misbehaving);

        var outcome = await _harness.InvokeAsync(version, """{"mode": "raise"}""");

        Assert.StartsWith("ValueError: boom\nTraceback (most recent call last):", outcome.Error);
        Assert.Contains("File \"function.py\", line 6, in handler", outcome.Error);
        Assert.Contains("raise ValueError(\"boom\")", outcome.Error);
        Assert.DoesNotContain("worker", outcome.Error);
    }

    [Theory]
    [InlineData("sleep")]
    [InlineData("loop")]
    [InlineData("never")]
    public async Task Invoke_PastTheTimeout_IsATimeoutAndTheNextInvocationWorks(string mode)
    {
        var version = ExecutorHarness.Deploy(_harness.Python, Misbehaving, timeoutSecs: 1);

        var timedOut = await _harness.InvokeAsync(version, $$"""{"mode": "{{mode}}"}""");
        var next = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Timeout, timedOut.Status);
        Assert.Contains("timeout of 1 s", timedOut.Error);
        Assert.Equal(ExecutionStatus.Success, next.Status);
    }

    [Fact]
    public async Task Invoke_SyntaxError_IsAnErrorWithTheInterpretersMessage()
    {
        var version = _harness.DeployPython("def handler(event)\n    return 1\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.StartsWith("SyntaxError:", outcome.Error);
        Assert.Contains("line 1", outcome.Error);
    }

    [Theory]
    [InlineData("def other(event):\n    return 1\n", "missing")]
    [InlineData("x = 1\n", "print")]
    [InlineData("x = 1\n", "__class__")]
    [InlineData("x = 1\n", "__init__")]
    [InlineData("x = 1\n", "__dir__")]
    [InlineData("x = 1\n", "__getattribute__")]
    [InlineData("x = 1\n", "__repr__")]
    public async Task Invoke_HandlerNotDefined_IsAnErrorNamingIt(string code, string handler)
    {
        var version = _harness.DeployPython(code, handler: handler);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.Equal($"The module defines no top-level function named '{handler}'.", outcome.Error);
    }

    [Theory]
    [InlineData("__init__")]
    [InlineData("__class__")]
    [InlineData("print")]
    public async Task Invoke_TopLevelFunctionNamedLikeAnAttributeEveryModuleHas_IsTheModules(string handler)
    {
        var version = _harness.DeployPython($"def {handler}(event):\n    return 'mine'\n", handler: handler);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal("\"mine\"", outcome.Output);
    }

    [Fact]
    public async Task Invoke_ImportError_IsAnErrorWithTheLoadTimeOutput()
    {
        var version = _harness.DeployPython("print('about to fail')\nimport no_such_module_here\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.StartsWith("ModuleNotFoundError: No module named 'no_such_module_here'", outcome.Error);
        Assert.Equal(["about to fail"], ExecutorHarness.Lines(outcome, "info"));
    }

    [Fact]
    public async Task Invoke_ModuleExitsWhileLoading_IsAnError()
    {
        var version = _harness.DeployPython("import os\nos._exit(5)\n");

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.Equal("The function exited with code 5 before it was ready.", outcome.Error);
    }

    [Fact]
    public async Task Invoke_ModuleNeverFinishesLoading_IsAnErrorAfterTheStartLimit()
    {
        _harness.Executor.StartAllowance = TimeSpan.FromSeconds(1);
        var version = ExecutorHarness.Deploy(_harness.Python, "import time\ntime.sleep(600)\n", timeoutSecs: 1);

        var outcome = await _harness.InvokeAsync(version);

        Assert.Equal(ExecutionStatus.Error, outcome.Status);
        Assert.Equal("The function's worker did not become ready within 2 s.", outcome.Error);
    }

    [Fact]
    public async Task Invoke_MemoryPeak_IsMeasuredPerInvocation()
    {
        var version = _harness.DeployPython("""
            def handler(event):
                if event.get("big"):
                    block = b"x" * (64 * 1024 * 1024)
                    return len(block)
                return 0
            """);

        var big = await _harness.InvokeAsync(version, """{"big": true}""");
        var small = await _harness.InvokeAsync(version);

        Assert.True(big.MemoryUsedMb >= 64, $"the big invocation measured {big.MemoryUsedMb} MiB");
        Assert.True(small.MemoryUsedMb < 48, $"the small invocation measured {small.MemoryUsedMb} MiB");
    }

    [Theory]
    [InlineData("handler", true)]
    [InlineData("_private2", true)]
    [InlineData("münze", true)]
    [InlineData("match", true)]
    [InlineData("", false)]
    [InlineData("2fast", false)]
    [InlineData("a-b", false)]
    [InlineData("module.handler", false)]
    [InlineData("class", false)]
    [InlineData("None", false)]
    public void ValidateHandler_Name_AcceptsOnlyIdentifiers(string handler, bool valid)
    {
        Assert.Equal(valid, _harness.Python.ValidateHandler(handler) is null);
    }

    [Fact]
    public void Name_IsPython()
    {
        Assert.Equal("python", _harness.Python.Name);
        Assert.Empty(_harness.Python.Aliases);
    }

    [Fact]
    public async Task GetLaunch_Interpreter_IsTheRealProgramNotAShim()
    {
        var version = _harness.DeployPython("def handler(event):\n    return 1\n");
        var directory = Directory.CreateTempSubdirectory("crablambda-code-").FullName;
        try
        {
            var launch = await _harness.Python.GetLaunchAsync(version, directory, CancellationToken.None);

            Assert.True(Path.IsPathRooted(launch.Executable));
            var header = File.ReadAllBytes(launch.Executable).AsSpan(0, 4).ToArray();
            Assert.Equal("\u007fELF"u8.ToArray(), header);
            Assert.Contains("-u", launch.Arguments);
            Assert.Contains("-B", launch.Arguments);
            Assert.True(File.Exists(Path.Combine(directory, "function.py")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task GetLaunch_InterpreterMissing_IsUnavailableNamingItAndItsVariable()
    {
        var python = new PythonRuntime(
            Options.Create(new CrabLambdaOptions { WorkDirectory = _harness.WorkDirectory }),
            Options.Create(new PythonRuntimeOptions { Interpreter = "/no/such/python3" }),
            TimeProvider.System,
            NullLogger<PythonRuntime>.Instance);
        var version = _harness.DeployPython("def handler(event):\n    return 1\n");

        var error = await Assert.ThrowsAsync<RuntimeUnavailableException>(
            () => python.GetLaunchAsync(version, _harness.WorkDirectory, CancellationToken.None));

        Assert.Contains("/no/such/python3", error.Message);
        Assert.Contains(PythonRuntime.InterpreterVariable, error.Message);
    }

    [Fact]
    public async Task GetLaunch_InvalidHandler_ThrowsFunctionCodeException()
    {
        var version = _harness.DeployPython("x = 1\n", handler: "not valid");

        await Assert.ThrowsAsync<FunctionCodeException>(
            () => _harness.Python.GetLaunchAsync(version, _harness.WorkDirectory, CancellationToken.None));
    }

    private static string Nested(int depth) => new string('[', depth) + "0" + new string(']', depth);
}
