using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Samples;

/// <summary>
/// The embedded app, which adds the Ruby plug-in runtime, with a small output limit to run into and the sandbox
/// required, as the server's hostile-function tests require it.
/// </summary>
public sealed class RubyAppFixture : IAsyncLifetime
{
    private EmbeddedAppHarness? _app;

    public EmbeddedAppHarness App => _app ?? throw new InvalidOperationException("The app has not started.");

    public async Task InitializeAsync()
    {
        Tools.Require("ruby");
        _app = await EmbeddedAppHarness.StartAsync(
            new Dictionary<string, string>
            {
                ["CrabLambda:MaxOutputMb"] = "1",
                ["CrabLambda:Isolation"] = "Sandbox",
            });
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}

/// <summary>
/// The custom-runtime sample, a Ruby runtime written against CrabLambda.Core alone, deployed and invoked through the
/// same REST API as the built-in runtimes.
/// </summary>
public sealed class RubyRuntimeTests(RubyAppFixture fixture) : IClassFixture<RubyAppFixture>
{
    private const string Code =
        """
        def handler(event, context)
          puts "hello #{event["name"]}"
          warn "careful"
          raise ArgumentError, "no name" if event["name"].nil?
          sleep 60 if event["sleep"]
          return "x" * 2_000_000 if event["big"]
          { "greeting" => "Hello, #{event["name"]}!", "function" => context.function_name,
            "version" => context.function_version }
        end
        """;

    private EmbeddedAppHarness App => fixture.App;

    [Fact]
    public async Task Invoke_ReturnsTheHandlersValueAsJson()
    {
        await App.DeployAsync("rb-hello", "ruby", Code);

        var result = await App.InvokeAsync("rb-hello", """{"name":"Ruby"}""");

        Assert.Equal("success", result.GetProperty("status").GetString());
        var output = result.GetProperty("output");
        Assert.Equal("Hello, Ruby!", output.GetProperty("greeting").GetString());
        Assert.Equal("rb-hello", output.GetProperty("function").GetString());
        Assert.Equal(1, output.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task Invoke_HandlerRaises_IsAnErrorWithTheMessageAndTrace()
    {
        await App.DeployAsync("rb-raise", "ruby", Code);

        var result = await App.InvokeAsync("rb-raise");

        Assert.Equal("error", result.GetProperty("status").GetString());
        var error = result.GetProperty("error").GetString()!;
        Assert.StartsWith("ArgumentError: no name", error, StringComparison.Ordinal);
        Assert.Contains("function.rb:4", error, StringComparison.Ordinal);
        Assert.DoesNotContain("bootstrap.rb", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_PastTheTimeout_TimesOut_AndTheNextInvocationSucceeds()
    {
        await App.DeployAsync("rb-sleep", "ruby", Code, new { timeout_secs = 2 });

        var stuck = await App.InvokeAsync("rb-sleep", """{"name":"a","sleep":true}""");
        var next = await App.InvokeAsync("rb-sleep", """{"name":"b"}""");

        Assert.Equal("timeout", stuck.GetProperty("status").GetString());
        Assert.Equal("success", next.GetProperty("status").GetString());
        Assert.Equal("Hello, b!", next.GetProperty("output").GetProperty("greeting").GetString());
    }

    [Fact]
    public async Task Invoke_PutsAndWarn_AreInfoAndErrorLogLines()
    {
        await App.DeployAsync("rb-logs", "ruby", Code);

        var result = await App.InvokeAsync("rb-logs", """{"name":"logs"}""");
        var logs = await ServerHarness.ExpectAsync(
            await App.Http.GetAsync($"faas/executions/{result.GetProperty("execution_id").GetString()}/logs"),
            HttpStatusCode.OK);

        // stdout and stderr are two pipes: lines keep their order within a stream, not across the two.
        Assert.Equal(
            [("error", "careful"), ("info", "hello logs")],
            logs.EnumerateArray()
                .Select(l => (l.GetProperty("level").GetString(), l.GetProperty("message").GetString()))
                .Order());
    }

    [Fact]
    public async Task Invoke_OutputPastTheLimit_IsAnErrorNamingTheLimit()
    {
        await App.DeployAsync("rb-big", "ruby", Code);

        var big = await App.InvokeAsync("rb-big", """{"name":"big","big":true}""");
        var next = await App.InvokeAsync("rb-big", """{"name":"small"}""");

        Assert.Equal("error", big.GetProperty("status").GetString());
        Assert.Contains("MaxOutputMb", big.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("success", next.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Invoke_AllocationPastMemoryMb_IsOom_AndTheNextInvocationSucceeds()
    {
        await App.DeployAsync(
            "rb-hog",
            "ruby",
            "def handler(event)\n  return 'x' * (200 * 1024 * 1024) if event['big']\n  'ok'\nend\n",
            new { memory_mb = 64, timeout_secs = 10 });

        var hog = await App.InvokeAsync("rb-hog", """{"big":true}""");
        var next = await App.InvokeAsync("rb-hog");

        Assert.Equal("oom", hog.GetProperty("status").GetString());
        Assert.Contains("64 MB", hog.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("ok", next.GetProperty("output").GetString());
    }

    [Fact]
    public async Task Invoke_InTheSandbox_CannotSeeTheAppsFiles_AndIsNotRoot()
    {
        await App.DeployAsync(
            "rb-snoop",
            "ruby",
            $$"""
            def handler(event)
              { "database" => File.exist?({{JsonSerializer.Serialize(App.DatabasePath)}}), "user" => Process.uid }
            end
            """);

        var result = await App.InvokeAsync("rb-snoop");

        Assert.Equal("success", result.GetProperty("status").GetString());
        var output = result.GetProperty("output");
        Assert.False(output.GetProperty("database").GetBoolean());
        Assert.NotEqual(0, output.GetProperty("user").GetInt32());
    }

    [Fact]
    public async Task Deploy_SyntaxError_Is422WithRubysMessage_AndStoresNothing()
    {
        var response = await App.Http.PostAsJsonAsync(
            "faas/functions",
            new
            {
                name = "rb-broken",
                runtime = "ruby",
                handler = "handler",
                code = "def handler(event)\n  if true\nend\n",
            });

        var problem = await ServerHarness.ExpectAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("line 3", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var missing = await App.Http.GetAsync("faas/functions/rb-broken");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Deploy_ByAliasWithABadHandler_Is400NamingTheHandler()
    {
        var response = await App.Http.PostAsJsonAsync(
            "faas/functions",
            new { name = "rb-alias", runtime = "rb", handler = "Not-A-Method", code = Code });

        var problem = await ServerHarness.ExpectAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("handler", out _));
    }

    [Fact]
    public async Task Deploy_ByAlias_StoresTheCanonicalName()
    {
        var created = await App.DeployAsync("rb-canonical", "rb", Code);

        Assert.Equal("ruby", created.GetProperty("runtime").GetString());
        Assert.Equal(JsonValueKind.Object, (await App.InvokeAsync("rb-canonical", """{"name":"c"}"""))
            .GetProperty("output").ValueKind);
    }
}
