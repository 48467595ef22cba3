using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Functions;
using CrabLambda.Tests.Hosting;
using CrabLambda.Tests.Infrastructure;
using EmbeddedApp;
using Microsoft.Extensions.DependencyInjection;

namespace CrabLambda.Tests.Samples;

/// <summary>
/// The embedded app with one execution slot, so that a test can make an invocation wait for it.
/// </summary>
public sealed class EmbeddedAppFixture : IAsyncLifetime
{
    private EmbeddedAppHarness? _app;

    public EmbeddedAppHarness App => _app ?? throw new InvalidOperationException("The app has not started.");

    public async Task InitializeAsync() =>
        _app = await EmbeddedAppHarness.StartAsync(
            new Dictionary<string, string> { ["CrabLambda:MaxConcurrentExecutions"] = "1" });

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}

public sealed class EmbeddedAppTests(EmbeddedAppFixture fixture) : IClassFixture<EmbeddedAppFixture>
{
    private const string EchoCode =
        """
        import sys
        def handler(event, context):
            print("got", event.get("n"))
            print("to stderr", file=sys.stderr)
            return {"n": event.get("n"), "version": context.function_version}
        """;

    private EmbeddedAppHarness App => fixture.App;

    [Fact]
    public async Task OwnRoute_WithoutCredentials_Answers()
    {
        var response = await App.Anonymous.GetAsync("");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("/faas", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task FaasRoutes_WithoutOrWithAWrongToken_Are401AndRunNothing()
    {
        await App.Functions.CreateAsync(new FunctionDefinition("guarded", "python", EchoCode, "handler"));
        using var wrong = new HttpClient { BaseAddress = App.Anonymous.BaseAddress };
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", App.Token + "x");

        var list = await App.Anonymous.GetAsync("faas/functions");
        var invoke = await App.Anonymous.PostAsync("faas/functions/guarded/invoke", new StringContent("{}"));
        var deploy = await App.Anonymous.PostAsJsonAsync(
            "faas/functions",
            new { name = "sneaky", runtime = "python", code = EchoCode, handler = "handler" });
        var wrongInvoke = await wrong.PostAsync("faas/functions/guarded/invoke", new StringContent("{}"));

        Assert.Equal(HttpStatusCode.Unauthorized, list.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, invoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, deploy.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongInvoke.StatusCode);
        Assert.Equal("Bearer", list.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Empty(await App.Functions.ListExecutionsAsync("guarded"));
        await Assert.ThrowsAsync<NotFoundException>(() => App.Functions.GetAsync("sneaky"));
    }

    [Theory]
    [InlineData("bearer")]
    [InlineData("BEARER")]
    [InlineData("Bearer")]
    public async Task FaasRoutes_SchemeInAnyCase_AreServed(string scheme)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "faas/functions");
        request.Headers.TryAddWithoutValidation("Authorization", $"{scheme} {App.Token}");

        var response = await App.Anonymous.SendAsync(request);

        await ServerHarness.ExpectAsync(response, HttpStatusCode.OK);
    }

    [Fact]
    public async Task FaasRoutes_WithTheAppsToken_DeployInvokeAndReadLogs()
    {
        var created = await App.DeployAsync("over-http", "python", EchoCode);
        var result = await App.InvokeAsync("over-http", """{"n":7}""");
        var executionId = result.GetProperty("execution_id").GetString();
        var logs = await ServerHarness.ExpectAsync(
            await App.Http.GetAsync($"faas/executions/{executionId}/logs"),
            HttpStatusCode.OK);

        Assert.Equal(1, created.GetProperty("current_version").GetInt32());
        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal(7, result.GetProperty("output").GetProperty("n").GetInt32());
        // stdout and stderr are two pipes: lines keep their order within a stream, not across the two.
        Assert.Equal(
            [("error", "to stderr"), ("info", "got 7")],
            logs.EnumerateArray()
                .Select(l => (l.GetProperty("level").GetString(), l.GetProperty("message").GetString()))
                .Order());
    }

    [Fact]
    public async Task FaasRoutes_Deploy_AnswersWithALocationUnderTheAppsPrefix()
    {
        var response = await App.Http.PostAsJsonAsync(
            "faas/functions",
            new { name = "located", runtime = "python", code = EchoCode, handler = "handler" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(EmbeddedAppHost.FaasPrefix + "/functions/located", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Greet_RunsTheGreeterThroughTheTypedClient_AndRecordsTheExecution()
    {
        var response = await App.Anonymous.GetAsync("greet/Ada");

        var body = await ServerHarness.ExpectAsync(response, HttpStatusCode.OK);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Hello, Ada!", body.GetProperty("greeting").GetString());
        var executions = await App.Functions.ListExecutionsAsync("greeter", ExecutionStatus.Success);
        var execution = Assert.Single(executions, e => e.Input.Contains("Ada", StringComparison.Ordinal));
        var logs = await App.Functions.GetLogsAsync(execution.Id);
        Assert.Equal("greeting Ada", Assert.Single(logs).Message);
    }

    [Fact]
    public async Task Greet_AfterTheGreeterWasDeleted_Is404Problem()
    {
        // An app of its own: the other tests share theirs, with its greeter.
        var app = await EmbeddedAppHarness.StartAsync();
        await using var _ = app;
        var deleted = await app.Http.DeleteAsync("faas/functions/greeter");

        var response = await app.Anonymous.GetAsync("greet/Ada");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        var problem = await FunctionRoutesTests.AssertProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Contains("greeter", problem.GetProperty("detail").GetString());
        Assert.StartsWith("https://", problem.GetProperty("type").GetString());
    }

    [Fact]
    public async Task FunctionClient_DeployInvokeListAndLogs_AreTypedAsTheRestApisAnswers()
    {
        var functions = App.Functions;

        var created = await functions.CreateAsync(new FunctionDefinition("typed", "python", EchoCode, "handler"));
        var updated = await functions.UpdateAsync("typed", new FunctionUpdate(Code: EchoCode + "\n# v2\n"));
        var first = await functions.InvokeAsync("typed", """{"n":1}"""u8.ToArray(), version: 1);
        var second = await functions.InvokeAsync("typed", """{"n":2}"""u8.ToArray());
        var all = await functions.ListExecutionsAsync("typed");
        var fromVersion1 = await functions.GetExecutionAsync(first.ExecutionId);
        var logs = await functions.GetLogsAsync(second.ExecutionId);
        var overHttp = await ServerHarness.ExpectAsync(
            await App.Http.GetAsync($"faas/executions/{second.ExecutionId}"),
            HttpStatusCode.OK);

        Assert.Equal(1, created.CurrentVersion);
        Assert.Equal(2, updated.CurrentVersion);
        Assert.Equal((ExecutionStatus.Success, 1), (first.Status, first.Version));
        Assert.Equal((ExecutionStatus.Success, 2), (second.Status, second.Version));
        Assert.Equal(2, JsonDocument.Parse(second.Output!).RootElement.GetProperty("version").GetInt32());
        Assert.Equal([second.ExecutionId, first.ExecutionId], all.Select(e => e.Id));
        Assert.Equal("""{"n":1}""", fromVersion1.Input);
        Assert.Equal(["error", "info"], logs.Select(l => l.Level).Order());
        Assert.Equal(second.ExecutionId.ToString(), overHttp.GetProperty("id").GetString());
        Assert.Equal(second.Version, overHttp.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task FunctionClient_Errors_AreTheExceptionsTheRestApiMapsToStatuses()
    {
        var functions = App.Functions;

        await Assert.ThrowsAsync<NotFoundException>(() => functions.InvokeAsync("nobody", ReadOnlyMemory<byte>.Empty));
        var invalid = await Assert.ThrowsAsync<FunctionValidationException>(
            () => functions.CreateAsync(new FunctionDefinition("bad name!", "cobol", EchoCode, "handler")));
        Assert.Contains("name", invalid.Errors.Keys);
        Assert.Contains("runtime", invalid.Errors.Keys);
    }

    [Fact]
    public async Task FunctionClient_CancelledToken_ThrowsAndChangesNothing()
    {
        var functions = App.Functions;
        await functions.CreateAsync(new FunctionDefinition("cancelled", "python", EchoCode, "handler"));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => functions.CreateAsync(
            new FunctionDefinition("never-made", "python", EchoCode, "handler"),
            cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => functions.InvokeAsync("cancelled", ReadOnlyMemory<byte>.Empty, cancellationToken: cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => functions.ListExecutionsAsync("cancelled", cancellationToken: cancelled.Token));

        await Assert.ThrowsAsync<NotFoundException>(() => functions.GetAsync("never-made"));
        Assert.Empty(await functions.ListExecutionsAsync("cancelled"));
    }

    [Fact]
    public async Task FunctionClient_CancelledWhileWaitingForASlot_ThrowsAndRecordsNothing()
    {
        // The app has one execution slot: the sleeper holds it until its timeout stops it.
        var functions = App.Functions;
        await functions.CreateAsync(new FunctionDefinition(
            "sleeper",
            "python",
            "import time\ndef handler(event):\n    time.sleep(60)\n",
            "handler",
            TimeoutSecs: 5));
        await functions.CreateAsync(new FunctionDefinition("waiter", "python", EchoCode, "handler"));
        var limiter = App.Services.GetRequiredService<ExecutionLimiter>();

        var sleeping = functions.InvokeAsync("sleeper", ReadOnlyMemory<byte>.Empty);
        using var cancel = new CancellationTokenSource();
        var waiting = functions.InvokeAsync("waiter", ReadOnlyMemory<byte>.Empty, cancellationToken: cancel.Token);
        await WaitUntilAsync(() => limiter.Queued == 1 || sleeping.IsCompleted);
        Assert.False(sleeping.IsCompleted, "The sleeper ended before the second invocation queued behind it.");
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(ExecutionStatus.Timeout, (await sleeping).Status);
        Assert.Empty(await functions.ListExecutionsAsync("waiter"));
        Assert.Equal(ExecutionStatus.Success, (await functions.InvokeAsync("waiter", "{}"u8.ToArray())).Status);
    }

    [Fact]
    public void Build_WithoutAToken_ThrowsSayingWhatToSet()
    {
        var exception = Assert.Throws<InvalidOperationException>(
            () => EmbeddedAppHost.Build(["--urls=http://127.0.0.1:0", "--App:Token="]));

        Assert.Contains("App:Token", exception.Message);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (!condition())
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), deadline.Token);
        }
    }
}
