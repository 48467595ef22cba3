using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Functions;
using Moq;
using static CrabLambda.Tests.Hosting.FunctionRoutesTests;

namespace CrabLambda.Tests.Hosting;

public sealed class InvocationRoutesTests : IAsyncLifetime
{
    private RouteHost _host = null!;
    private byte[]? _event;
    private int? _version;

    public async Task InitializeAsync() => _host = await RouteHost.StartAsync(o => o.MaxEventMb = 1);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Invoke_JsonBody_PassesTheExactBytesAndEmbedsOutputAsJson()
    {
        ReturnFromInvoke(new InvocationResult(
            Samples.ExecutionId,
            ExecutionStatus.Success,
            """{"greeting": "Hello, CrabLambda!", "n": [1, 2.5]}""",
            null,
            41.5,
            3,
            12.25));
        const string body = """{ "name" : "CrabLambda", "deep": [ {"a": null} ] }""";

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json(body, null));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, Encoding.UTF8.GetString(_event!));
        Assert.Null(_version);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(
            ["execution_id", "status", "output", "error", "duration_ms", "version", "memory_used_mb"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Samples.ExecutionId, json.GetProperty("execution_id").GetGuid());
        Assert.Equal("success", json.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Object, json.GetProperty("output").ValueKind);
        Assert.Equal("Hello, CrabLambda!", json.GetProperty("output").GetProperty("greeting").GetString());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("error").ValueKind);
        Assert.Equal(41.5, json.GetProperty("duration_ms").GetDouble());
        Assert.Equal(3, json.GetProperty("version").GetInt32());
        Assert.Equal(12.25, json.GetProperty("memory_used_mb").GetDouble());
    }

    [Fact]
    public async Task Invoke_StringOutput_StaysAString()
    {
        ReturnFromInvoke(new InvocationResult(
            Samples.ExecutionId, ExecutionStatus.Success, "\"Hello, CrabLambda!\"", null, 1, 1, null));

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json("{}"));

        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal("Hello, CrabLambda!", json.GetProperty("output").GetString());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("memory_used_mb").ValueKind);
    }

    [Theory]
    [InlineData(ExecutionStatus.Error, "error")]
    [InlineData(ExecutionStatus.Timeout, "timeout")]
    [InlineData(ExecutionStatus.Oom, "oom")]
    public async Task Invoke_FunctionFailed_Returns200WithLowercaseStatusAndNullOutput(
        ExecutionStatus status,
        string word)
    {
        ReturnFromInvoke(new InvocationResult(Samples.ExecutionId, status, null, "it broke", 5, 1, 3));

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(word, json.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("output").ValueKind);
        Assert.Equal("it broke", json.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \r\n\t")]
    public async Task Invoke_EmptyBody_PassesAnEmptyEvent(string body)
    {
        ReturnFromInvoke(new InvocationResult(Samples.ExecutionId, ExecutionStatus.Success, "1", null, 1, 1, null));

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json(body, null));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(_event!);
    }

    [Theory]
    [InlineData("42")]
    [InlineData("\"text\"")]
    [InlineData("[1,2,3]")]
    [InlineData("null")]
    [InlineData("true")]
    public async Task Invoke_AnyJsonValue_IsTheEvent(string body)
    {
        ReturnFromInvoke(new InvocationResult(Samples.ExecutionId, ExecutionStatus.Success, "1", null, 1, 1, null));

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, Encoding.UTF8.GetString(_event!));
    }

    [Fact]
    public async Task Invoke_ByteOrderMark_IsDropped()
    {
        ReturnFromInvoke(new InvocationResult(Samples.ExecutionId, ExecutionStatus.Success, "1", null, 1, 1, null));
        var body = new ByteArrayContent([0xEF, 0xBB, 0xBF, .. "{\"a\":1}"u8]);

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(_event!));
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"a\":1,}")]
    [InlineData("hello")]
    [InlineData("{\"a\":1}{\"b\":2}")]
    [InlineData("// comment\n{}")]
    public async Task Invoke_InvalidJson_Returns400AndInvokesNothing(string body)
    {
        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("not valid JSON", problem.GetProperty("title").GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Invoke_TooDeeplyNested_Returns400()
    {
        var body = new string('[', 300) + new string(']', 300);

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json(body));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Invoke_EventOverTheLimit_Returns413AndInvokesNothing()
    {
        var body = $"\"{new string('x', 1024 * 1024)}\"";

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("1 MiB", problem.GetProperty("detail").GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Invoke_EventJustUnderTheLimit_IsAccepted()
    {
        ReturnFromInvoke(new InvocationResult(Samples.ExecutionId, ExecutionStatus.Success, "1", null, 1, 1, null));
        var body = $"\"{new string('x', (1024 * 1024) - 2)}\"";

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1024 * 1024, _event!.Length);
    }

    [Fact]
    public async Task Invoke_Rejected_Returns429WithRetryAfter()
    {
        _host.Client
            .Setup(c => c.InvokeAsync("hello", It.IsAny<ReadOnlyMemory<byte>>(), null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ExecutionRejectedException("1100 executions are running or waiting."));

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json("{}"));

        await AssertProblemAsync(response, HttpStatusCode.TooManyRequests);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task Invoke_ServerStoppingBeforeTheFunctionRan_Returns503WithRetryAfter()
    {
        _host.Client
            .Setup(c => c.InvokeAsync("hello", It.IsAny<ReadOnlyMemory<byte>>(), null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ServerStoppingException("The server is shutting down and did not run the function."));

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json("{}"));

        var problem = await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("Server shutting down", problem.GetProperty("title").GetString());
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task Invoke_UnknownFunction_Returns404()
    {
        _host.Client
            .Setup(c => c.InvokeAsync("nope", It.IsAny<ReadOnlyMemory<byte>>(), null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new NotFoundException("There is no function named 'nope'."));

        var response = await _host.Http.PostAsync("api/functions/nope/invoke", RouteHost.Json("{}"));

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task InvokeVersion_PassesTheVersion()
    {
        ReturnFromInvoke(new InvocationResult(Samples.ExecutionId, ExecutionStatus.Success, "1", null, 1, 2, null));

        var response = await _host.Http.PostAsync("api/functions/hello/versions/2/invoke", RouteHost.Json("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _version);
    }

    [Fact]
    public async Task GetExecution_EmbedsInputAndOutputAsJsonValues()
    {
        _host.Client
            .Setup(c => c.GetExecutionAsync(Samples.ExecutionId, It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Execution());

        var response = await _host.Http.GetAsync($"api/executions/{Samples.ExecutionId}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(
            ["id", "function_id", "function_name", "version", "status", "input", "output", "error", "duration_ms",
                "memory_used_mb", "executed_at"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(2, json.GetProperty("input").GetProperty("who")[1].GetInt32());
        Assert.Equal("Hello", json.GetProperty("output").GetString());
        Assert.Equal("success", json.GetProperty("status").GetString());
        Assert.Equal(7.25, json.GetProperty("memory_used_mb").GetDouble());
    }

    [Theory]
    [InlineData("api/executions/not-a-uuid")]
    [InlineData("api/executions/123")]
    [InlineData("api/executions/not-a-uuid/logs")]
    public async Task ExecutionRoutes_IdNotAUuid_Returns400(string path)
    {
        var response = await _host.Http.GetAsync(path);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("id", out _));
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task GetExecution_Unknown_Returns404()
    {
        var id = Guid.NewGuid();
        _host.Client
            .Setup(c => c.GetExecutionAsync(id, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new NotFoundException($"There is no execution {id}."));

        var response = await _host.Http.GetAsync($"api/executions/{id}");

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task GetLogs_ReturnsLinesInOrder()
    {
        _host.Client
            .Setup(c => c.GetLogsAsync(Samples.ExecutionId, It.IsAny<CancellationToken>()))
            .ReturnsAsync([Samples.LogLine(0, "info", "greeting CrabLambda"), Samples.LogLine(1, "error", "oops")]);

        var response = await _host.Http.GetAsync($"api/executions/{Samples.ExecutionId}/logs");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(
            ["id", "execution_id", "level", "message", "timestamp"],
            json[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            ["greeting CrabLambda", "oops"],
            json.EnumerateArray().Select(l => l.GetProperty("message").GetString()));
        Assert.Equal(["info", "error"], json.EnumerateArray().Select(l => l.GetProperty("level").GetString()));
    }

    [Fact]
    public async Task ListExecutions_StatusAndLimit_ArePassedThrough()
    {
        _host.Client
            .Setup(c => c.ListExecutionsAsync("hello", ExecutionStatus.Timeout, 5, null, It.IsAny<CancellationToken>()))
            .ReturnsAsync([Samples.Execution(ExecutionStatus.Timeout)]);

        var response = await _host.Http.GetAsync("api/functions/hello/executions?status=timeout&limit=5");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal("timeout", Assert.Single(json.EnumerateArray()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task ListExecutions_Defaults_AllStatusesAndLimit50()
    {
        _host.Client
            .Setup(c => c.ListExecutionsAsync("hello", null, 50, null, It.IsAny<CancellationToken>()))
            .ReturnsAsync([]);

        var response = await _host.Http.GetAsync("api/functions/hello/executions");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("[]", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("status=bogus", "status")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("limit=many", "limit")]
    public async Task ListExecutions_BadQuery_Returns400NamingIt(string query, string field)
    {
        var response = await _host.Http.GetAsync($"api/functions/hello/executions?{query}");

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _));
        _host.Client.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData("status=bogus", "status", "The status 'bogus' is not valid: use success, error, timeout or oom.")]
    [InlineData("limit=1001", "limit", "The limit '1001' is not valid: use a whole number from 1 to 1000.")]
    public async Task ListExecutions_BadQuery_SaysWhatIsAllowed(string query, string field, string message)
    {
        var response = await _host.Http.GetAsync($"api/functions/hello/executions?{query}");

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var messages = problem.GetProperty("errors").GetProperty(field).EnumerateArray().Select(m => m.GetString());
        Assert.Equal([message], messages);
    }

    private void ReturnFromInvoke(InvocationResult result)
    {
        _host.Client
            .Setup(c => c.InvokeAsync(
                "hello",
                It.IsAny<ReadOnlyMemory<byte>>(),
                It.IsAny<int?>(),
                It.IsAny<CancellationToken>()))
            .Callback<string, ReadOnlyMemory<byte>, int?, CancellationToken>((_, e, v, _) =>
            {
                _event = e.ToArray();
                _version = v;
            })
            .ReturnsAsync(result);
    }
}
