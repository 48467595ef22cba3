using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moq;

namespace CrabLambda.Tests.Hosting;

public sealed class FunctionRoutesTests : IAsyncLifetime
{
    private const string CreateBody =
        """{"name":"hello","runtime":"python","code":"def handler(e): return 1","handler":"handler"}""";

    private RouteHost _host = null!;

    public async Task InitializeAsync() => _host = await RouteHost.StartAsync(o => o.MaxFunctionSizeMb = 1);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Create_ValidBody_Returns201WithLocationAndSnakeCaseFunction()
    {
        FunctionDefinition? seen = null;
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .Callback<FunctionDefinition, CancellationToken>((d, _) => seen = d)
            .ReturnsAsync(Samples.Function());

        var response = await _host.Http.PostAsync(
            "api/functions",
            RouteHost.Json(
                """
                {"name":"hello","runtime":"python","code":"x = 1","handler":"handler",
                 "memory_mb":256,"timeout_secs":15,"network":true}
                """));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("/api/functions/hello", response.Headers.Location?.OriginalString);
        Assert.Equal(new FunctionDefinition("hello", "python", "x = 1", "handler", 256, 15, true), seen);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(
            ["id", "name", "runtime", "handler", "memory_mb", "timeout_secs", "network", "current_version",
                "created_at", "updated_at"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Samples.FunctionId, json.GetProperty("id").GetGuid());
        Assert.Equal(256, json.GetProperty("memory_mb").GetInt32());
        Assert.Equal(15, json.GetProperty("timeout_secs").GetInt32());
        Assert.True(json.GetProperty("network").GetBoolean());
        Assert.Equal(3, json.GetProperty("current_version").GetInt32());
        Assert.Equal(Samples.Created, json.GetProperty("created_at").GetDateTimeOffset());
        Assert.Equal(Samples.Updated, json.GetProperty("updated_at").GetDateTimeOffset());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task Create_AnyContentType_ReadsBodyAsJson(string? contentType)
    {
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function());

        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(CreateBody, contentType));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task Create_UnknownFields_Returns400NamingEachAndCreatesNothing()
    {
        var response = await _host.Http.PostAsync(
            "api/functions",
            RouteHost.Json("""{"name":"hello","colour":"blue","nested":{"a":[1]},"runtime":"python"}"""));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = problem.GetProperty("errors");
        Assert.Equal(["colour", "nested"], errors.EnumerateObject().Select(e => e.Name));
        Assert.Contains(
            "colour is not a field of a function.",
            errors.GetProperty("colour")[0].GetString());
        Assert.Contains("memory_mb", errors.GetProperty("colour")[0].GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData("memroy_mb", "memory_mb")]
    [InlineData("Memory_MB", "memory_mb")]
    [InlineData("timeout", "timeout_secs")]
    [InlineData("memory", "memory_mb")]
    [InlineData("timeout_sec", "timeout_secs")]
    [InlineData("handle", "handler")]
    [InlineData("netwrok", "network")]
    public async Task Create_MisspelledField_Returns400SuggestingTheField(string misspelled, string meant)
    {
        var response = await _host.Http.PostAsync(
            "api/functions",
            RouteHost.Json($$"""{"name":"hello","runtime":"python","{{misspelled}}":5}"""));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var message = problem.GetProperty("errors").GetProperty(misspelled)[0].GetString();
        Assert.Contains($"Did you mean {meant}?", message);
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Create_SeveralFieldsOfTheWrongType_Returns400NamingEachField()
    {
        var response = await _host.Http.PostAsync(
            "api/functions",
            RouteHost.Json(
                """
                {"name":42,"runtime":true,"code":{"file":"x"},"handler":[1],"memory_mb":"x","timeout_secs":1.5,
                 "network":"yes"}
                """));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(
            ["name", "runtime", "code", "handler", "memory_mb", "timeout_secs", "network"],
            problem.GetProperty("errors").EnumerateObject().Select(e => e.Name));
        Assert.Contains("timeout_secs must be a whole number", problem.GetProperty("detail").GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData("100", 100)]
    [InlineData("1e2", 100)]
    [InlineData("1E+2", 100)]
    [InlineData("100.0", 100)]
    [InlineData("1000e-1", 100)]
    [InlineData("0.1e3", 100)]
    [InlineData("-1e2", -100)]
    public async Task Create_WholeNumberInAnyJsonForm_IsPassedOn(string json, int value)
    {
        FunctionDefinition? seen = null;
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .Callback<FunctionDefinition, CancellationToken>((d, _) => seen = d)
            .ReturnsAsync(Samples.Function());

        var response = await _host.Http.PostAsync(
            "api/functions",
            RouteHost.Json($$"""{"name":"hello","memory_mb":{{json}},"timeout_secs":{{json}}}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal((value, value), (seen!.MemoryMb, seen.TimeoutSecs));
    }

    [Theory]
    [InlineData("memory_mb", "99999999999", "memory_mb must be between 1 and 10240; it was 99999999999.")]
    [InlineData("memory_mb", "1e400", "memory_mb must be between 1 and 10240; it was 1e400.")]
    [InlineData("timeout_secs", "-3e10", "timeout_secs must be between 1 and 300 (MAX_TIMEOUT_SECS); it was -3e10.")]
    public async Task Create_WholeNumberBeyondAnyLimit_Returns400WithTheRange(string field, string json, string says)
    {
        var response = await _host.Http.PostAsync(
            "api/functions",
            RouteHost.Json($$"""{"name":"hello","{{field}}":{{json}}}"""));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(says, problem.GetProperty("errors").GetProperty(field)[0].GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Create_NullFields_AreLeftOut()
    {
        _host.Client
            .Setup(c => c.CreateAsync(
                new FunctionDefinition("hello", "python", null, null, null, null, null),
                It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function());

        var response = await _host.Http.PostAsync(
            "api/functions",
            RouteHost.Json(
                """
                {"name":"hello","runtime":"python","code":null,"handler":null,"memory_mb":null,
                 "timeout_secs":null,"network":null}
                """));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":")]
    [InlineData("{'name':'hello'}")]
    [InlineData("name=hello")]
    [InlineData("{\"name\":\"a\"} trailing")]
    public async Task Create_MalformedJson_Returns400ProblemAndCreatesNothing(string body)
    {
        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("not valid JSON", problem.GetProperty("title").GetString());
        Assert.Contains("JSON", problem.GetProperty("detail").GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData("")]
    [InlineData("  \n")]
    public async Task Create_EmptyBody_Returns400Problem(string body)
    {
        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("empty", problem.GetProperty("title").GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData("""{"name":"hello","memory_mb":"x"}""", "memory_mb")]
    [InlineData("""{"name":"hello","memory_mb":12.5}""", "memory_mb")]
    [InlineData("""{"name":"hello","timeout_secs":99999999999}""", "timeout_secs")]
    [InlineData("""{"name":"hello","network":"yes"}""", "network")]
    [InlineData("""{"name":42}""", "name")]
    [InlineData("""{"name":"hello","code":{"file":"x"}}""", "code")]
    [InlineData("""[1,2]""", "body")]
    [InlineData("""null""", "body")]
    [InlineData("\"hello\"", "body")]
    public async Task Create_WrongShape_Returns400NamingTheField(string body, string field)
    {
        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"errors should name {field}: {errors}");
        Assert.NotEmpty(messages.EnumerateArray().Select(m => m.GetString()));
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Create_BodyFarOverTheLimit_Returns413WithoutReadingIt()
    {
        var code = new string('x', (6 * 1024 * 1024) + (128 * 1024));
        var body = $$"""{"name":"big","runtime":"python","handler":"h","code":"{{code}}"}""";

        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(body));

        var problem = await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("larger than", problem.GetProperty("detail").GetString());
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Create_ChunkedBodyOverTheLimit_Returns413()
    {
        var chunk = Encoding.UTF8.GetBytes(new string(' ', 1024 * 1024));
        var content = new PushStreamContentOfChunks(chunk, count: 8);

        var response = await _host.Http.PostAsync("api/functions", content);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Create_ValidationException_Returns400ValidationProblemNamingEachField()
    {
        var errors = new Dictionary<string, string[]>
        {
            ["name"] = ["name must be 1-64 characters of A-Z a-z 0-9 - _."],
            ["memory_mb"] = ["memory_mb must be between 1 and 10240."],
        };
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new FunctionValidationException(errors));

        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(CreateBody));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(
            errors["memory_mb"],
            problem.GetProperty("errors").GetProperty("memory_mb").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("name must be", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Create_NameTaken_Returns409()
    {
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new FunctionConflictException("hello"));

        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(CreateBody));

        var problem = await AssertProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Contains("'hello' already exists", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Create_CodeTooLarge_Returns413()
    {
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new CodeTooLargeException("The code is 11 MiB; the limit is 10 MiB."));

        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(CreateBody));

        var problem = await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("The code is 11 MiB; the limit is 10 MiB.", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Create_CodeCannotRun_Returns422WithTheMessage()
    {
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new FunctionCodeException("error[E0425]: cannot find value `x`"));

        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(CreateBody));

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Equal("error[E0425]: cannot find value `x`", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Create_UnexpectedException_Returns500ProblemAndLogsIt()
    {
        var failure = new InvalidOperationException("disk on fire");
        _host.Client
            .Setup(c => c.CreateAsync(It.IsAny<FunctionDefinition>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(failure);

        var response = await _host.Http.PostAsync("api/functions", RouteHost.Json(CreateBody));

        var problem = await AssertProblemAsync(response, HttpStatusCode.InternalServerError);
        Assert.DoesNotContain("disk on fire", problem.GetRawText());
        var record = Assert.Single(_host.Logs.Records, r => r.Level == LogLevel.Error);
        Assert.Same(failure, record.Exception);
        Assert.Contains("POST /api/functions", record.Message);
    }

    [Fact]
    public async Task List_Defaults_AsksPage1Limit10AndWrapsItems()
    {
        _host.Client
            .Setup(c => c.ListAsync(1, 10, It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ListPage<Function>([Samples.Function("a"), Samples.Function("b")], 1, 10, 12));

        var response = await _host.Http.GetAsync("api/functions");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(["items", "page", "limit", "total"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            ["a", "b"],
            json.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal(12, json.GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task List_PageAndLimit_ArePassedThrough()
    {
        _host.Client
            .Setup(c => c.ListAsync(3, 100, It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ListPage<Function>([], 3, 100, 0));

        var response = await _host.Http.GetAsync("api/functions?page=3&limit=100");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("page=0", "page")]
    [InlineData("page=-1", "page")]
    [InlineData("page=abc", "page")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=101", "limit")]
    [InlineData("limit=1000000", "limit")]
    [InlineData("limit=99999999999999", "limit")]
    public async Task List_BadPaging_Returns400NamingTheParameter(string query, string field)
    {
        var response = await _host.Http.GetAsync($"api/functions?{query}");

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _));
        _host.Client.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData(
        "page=99999999999",
        "page",
        "The page '99999999999' is not valid: use a whole number from 1 to 2147483647.")]
    [InlineData("page=0", "page", "The page '0' is not valid: use a whole number from 1 to 2147483647.")]
    [InlineData("limit=101", "limit", "The limit '101' is not valid: use a whole number from 1 to 100.")]
    public async Task List_BadPaging_SaysTheAllowedRange(string query, string field, string message)
    {
        var response = await _host.Http.GetAsync($"api/functions?{query}");

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var messages = problem.GetProperty("errors").GetProperty(field).EnumerateArray().Select(m => m.GetString());
        Assert.Equal([message], messages);
    }

    [Fact]
    public async Task Get_UnknownFunction_Returns404Problem()
    {
        _host.Client
            .Setup(c => c.GetAsync("nope", It.IsAny<CancellationToken>()))
            .ThrowsAsync(new NotFoundException("There is no function named 'nope'."));

        var response = await _host.Http.GetAsync("api/functions/nope");

        var problem = await AssertProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal("There is no function named 'nope'.", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Update_Subset_PassesOnlyThoseFields()
    {
        _host.Client
            .Setup(c => c.UpdateAsync(
                "hello",
                new FunctionUpdate(null, null, 512, null, null),
                It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function());

        var response = await _host.Http.PutAsync("api/functions/hello", RouteHost.Json("""{"memory_mb":512}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal("hello", json.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Update_SameNameAndRuntimeAlias_IsAccepted()
    {
        var host = await RouteHost.StartAsync(
            configureServices: s => s.AddSingleton<IRuntime>(new AliasRuntime("node", "nodejs")));
        await using var _ = host;
        host.Client
            .Setup(c => c.GetAsync("hello", It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function() with { Runtime = "node" });
        host.Client
            .Setup(c => c.UpdateAsync(
                "hello",
                new FunctionUpdate("x", "h", null, null, null),
                It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function());

        var response = await host.Http.PutAsync(
            "api/functions/hello",
            RouteHost.Json("""{"name":"hello","runtime":"nodejs","code":"x","handler":"h"}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Update_UnknownField_Returns400AndChangesNothing()
    {
        var response = await _host.Http.PutAsync(
            "api/functions/hello",
            RouteHost.Json("""{"name":"hello","runtime":"python","memroy_mb":512}"""));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["memroy_mb"], problem.GetProperty("errors").EnumerateObject().Select(e => e.Name));
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Update_OtherNameOrRuntime_Returns400NamingBothAndChangesNothing()
    {
        _host.Client
            .Setup(c => c.GetAsync("hello", It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function());

        var response = await _host.Http.PutAsync(
            "api/functions/hello",
            RouteHost.Json("""{"name":"other","runtime":"node","code":"x"}"""));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty("name", out _));
        Assert.True(errors.TryGetProperty("runtime", out _));
        _host.Client.Verify(
            c => c.UpdateAsync(It.IsAny<string>(), It.IsAny<FunctionUpdate>(), It.IsAny<CancellationToken>()),
            Times.Never);
    }

    [Fact]
    public async Task Delete_Existing_Returns204WithoutBody()
    {
        _host.Client.Setup(c => c.DeleteAsync("hello", It.IsAny<CancellationToken>())).Returns(Task.CompletedTask);

        var response = await _host.Http.DeleteAsync("api/functions/hello");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task ListVersions_OmitsCode()
    {
        _host.Client
            .Setup(c => c.ListVersionsAsync("hello", It.IsAny<CancellationToken>()))
            .ReturnsAsync([Samples.Version(2), Samples.Version(1)]);

        var response = await _host.Http.GetAsync("api/functions/hello/versions");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal([2, 1], json.EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
        Assert.Equal(
            ["version", "code_hash", "runtime", "handler", "memory_mb", "timeout_secs", "network", "deployed_at"],
            json[0].EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task GetVersion_Number_ReturnsItWithCode()
    {
        _host.Client
            .Setup(c => c.GetVersionAsync("hello", 2, It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Version(2));

        var response = await _host.Http.GetAsync("api/functions/hello/versions/2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(
            ["version", "code", "code_hash", "runtime", "handler", "memory_mb", "timeout_secs", "network",
                "deployed_at"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Samples.Version(2).Code, json.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("GET", "api/functions/hello/versions/abc")]
    [InlineData("GET", "api/functions/hello/versions/0")]
    [InlineData("GET", "api/functions/hello/versions/-1")]
    [InlineData("GET", "api/functions/hello/versions/1.5")]
    [InlineData("GET", "api/functions/hello/versions/99999999999")]
    [InlineData("POST", "api/functions/hello/rollback/abc")]
    [InlineData("POST", "api/functions/hello/versions/abc/invoke")]
    public async Task VersionRoutes_VersionNotANumber_Returns400(string method, string path)
    {
        var response = await _host.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("version", out _));
        _host.Client.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task Rollback_MissingVersion_Returns404()
    {
        _host.Client
            .Setup(c => c.RollbackAsync("hello", 9, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new NotFoundException("Function 'hello' has no version 9."));

        var response = await _host.Http.PostAsync("api/functions/hello/rollback/9", null);

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Rollback_Existing_ReturnsTheFunction()
    {
        _host.Client
            .Setup(c => c.RollbackAsync("hello", 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(Samples.Function() with { CurrentVersion = 1 });

        var response = await _host.Http.PostAsync("api/functions/hello/rollback/1", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await RouteHost.ReadJsonAsync(response);
        Assert.Equal(1, json.GetProperty("current_version").GetInt32());
    }

    internal static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement.Clone();
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());

        // Every problem names its kind, as RFC 9457 asks, the same way for every status.
        var type = problem.TryGetProperty("type", out var value) ? value.GetString() : null;
        Assert.True(
            Uri.TryCreate(type, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps,
            $"the problem has no type: {text}");
        return problem;
    }

    private sealed class AliasRuntime(string name, string alias) : IRuntime
    {
        public string Name => name;

        public IReadOnlyCollection<string> Aliases => [alias];

        public string? ValidateHandler(string handler) => null;

        public Task PrepareAsync(FunctionVersion version, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<WorkerLaunch> GetLaunchAsync(
            FunctionVersion version,
            string codeDirectory,
            CancellationToken cancellationToken) =>
            Task.FromResult(new WorkerLaunch("/bin/true", []));
    }

    // Sends a body without Content-Length, in chunks, so the server cannot refuse it from the header alone.
    private sealed class PushStreamContentOfChunks(byte[] chunk, int count) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            try
            {
                for (var i = 0; i < count; i++)
                {
                    await stream.WriteAsync(chunk);
                }
            }
            catch (IOException)
            {
                // The server may answer 413 and close the connection before the whole body is written, as HTTP
                // allows; the answer is already on its way and is what the test reads.
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
