using System.Net;
using System.Text;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;
using static CrabLambda.Tests.Server.EndToEnd.FunctionRoutesEndToEndTests;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>A server with a 1 MiB code limit and a 60-second timeout limit, so both are cheap to pass.</summary>
public sealed class SmallLimitsServerFixture : ServerFixture
{
    /// <summary>The limits, for either engine.</summary>
    public static readonly IReadOnlyDictionary<string, string?> SmallLimits = new Dictionary<string, string?>
    {
        ["MAX_FUNCTION_SIZE_MB"] = "1",
        ["MAX_TIMEOUT_SECS"] = "60",
        ["DEFAULT_TIMEOUT_SECS"] = "10",
    };

    protected override IReadOnlyDictionary<string, string?> Variables => SmallLimits;
}

/// <summary>The server of <see cref="SmallLimitsServerFixture"/> on PostgreSQL.</summary>
public sealed class SmallLimitsPostgresServerFixture(PostgresServer postgres) : PostgresServerFixture(postgres)
{
    protected override IReadOnlyDictionary<string, string?> Variables => SmallLimitsServerFixture.SmallLimits;
}

/// <summary>
/// Requests the server must refuse, and the limits it must hold, on SQLite and on PostgreSQL.
/// </summary>
public abstract class BadInputTests(ServerFixture fixture)
{
    private const string Code = "def handler(event):\n    return event\n";

    private ServerHarness Server => fixture.Server;

    public static TheoryData<string, string> BadDefinitions => new()
    {
        { """{"name":"bad-runtime","runtime":"cobol","code":"x","handler":"h"}""", "runtime" },
        { """{"name":"a/b","runtime":"python","code":"x","handler":"h"}""", "name" },
        { """{"name":"..","runtime":"python","code":"x","handler":"h"}""", "name" },
        { """{"name":"../etc","runtime":"python","code":"x","handler":"h"}""", "name" },
        { """{"name":"has space","runtime":"python","code":"x","handler":"h"}""", "name" },
        { $$"""{"name":"{{new string('n', 300)}}","runtime":"python","code":"x","handler":"h"}""", "name" },
        { """{"name":"-dash-first","runtime":"python","code":"x","handler":"h"}""", "name" },
        { """{"name":"","runtime":"python","code":"x","handler":"h"}""", "name" },
        { """{"name":"mem-zero","runtime":"python","code":"x","handler":"h","memory_mb":0}""", "memory_mb" },
        { """{"name":"mem-big","runtime":"python","code":"x","handler":"h","memory_mb":20000}""", "memory_mb" },
        { """{"name":"mem-text","runtime":"python","code":"x","handler":"h","memory_mb":"x"}""", "memory_mb" },
        { """{"name":"t-zero","runtime":"python","code":"x","handler":"h","timeout_secs":0}""", "timeout_secs" },
        { """{"name":"t-big","runtime":"python","code":"x","handler":"h","timeout_secs":61}""", "timeout_secs" },
        { """{"name":"no-code","runtime":"python","handler":"h"}""", "code" },
        { """{"name":"no-handler","runtime":"python","code":"x"}""", "handler" },
        { """{"runtime":"python","code":"x","handler":"h"}""", "name" },
        { """[{"name":"array"}]""", "body" },
    };

    [Theory]
    [MemberData(nameof(BadDefinitions))]
    public async Task Create_InvalidDefinition_Is400NamingTheFieldAndStoresNothing(string body, string field)
    {
        var before = await CountFunctionsAsync();

        var response = await PostFunctionAsync(body);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(
            problem.GetProperty("errors").TryGetProperty(field, out _),
            $"the problem should name {field}: {problem}");
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        Assert.Equal(before, await CountFunctionsAsync());
    }

    [Theory]
    [InlineData("{\"name\":\"broken\",")]
    [InlineData("name=broken&runtime=python")]
    [InlineData("{\"name\":\"broken\"}}")]
    public async Task Create_MalformedJson_Is400AndStoresNothing(string body)
    {
        var before = await CountFunctionsAsync();

        var response = await PostFunctionAsync(body);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("JSON", problem.GetProperty("detail").GetString());
        Assert.Equal(before, await CountFunctionsAsync());
    }

    public static TheoryData<byte[], string> BodiesThatAreNotUnicode => new()
    {
        { [.. """{"name":"bytes","runtime":"python","handler":"h","code":"x"""u8, 0xFF, .. "\"}"u8], "UTF-8" },
        { """{"name":"half","runtime":"python","handler":"h","code":"s = '\ud800'"}"""u8.ToArray(), "code" },
        { """{"name":"half-name","runtime":"python","handler":"h","code":"x","\udc00":1}"""u8.ToArray(), "body" },
    };

    [Theory]
    [MemberData(nameof(BodiesThatAreNotUnicode))]
    public async Task Create_TextThatIsNotUnicode_Is400AndStoresNothing(byte[] body, string named)
    {
        var before = await CountFunctionsAsync();

        var response = await Server.Http.PostAsync("api/functions", new ByteArrayContent(body));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        var namesIt = problem.TryGetProperty("errors", out var errors)
            ? errors.TryGetProperty(named, out _)
            : problem.GetProperty("title").GetString()!.Contains(named, StringComparison.Ordinal);
        Assert.True(namesIt, $"the problem should name {named}: {problem}");
        Assert.Equal(before, await CountFunctionsAsync());
    }

    [Theory]
    [InlineData("twice-1", "\"memory_mb\":1.5,\"memory_mb\":128", "memory_mb", "128")]
    [InlineData("twice-2", "\"memory_mb\":\"x\",\"memory_mb\":null", "memory_mb", "128")]
    [InlineData("twice-3", "\"network\":\"x\",\"network\":true", "network", "true")]
    [InlineData("twice-4", "\"timeout_secs\":1e400,\"timeout_secs\":5", "timeout_secs", "5")]
    [InlineData("twice-5", "\"timeout_secs\":0,\"timeout_secs\":7", "timeout_secs", "7")]
    public async Task Create_FieldGivenTwice_TakesItsLastValueWhateverTheFirstWas(
        string name,
        string fields,
        string field,
        string expected)
    {
        var body = $$"""{"name":"{{name}}","runtime":"python","handler":"handler","code":"x = 1",{{fields}}}""";

        var created = await ServerHarness.ExpectAsync(await PostFunctionAsync(body), HttpStatusCode.Created);

        Assert.Equal(expected, created.GetProperty(field).GetRawText());
    }

    [Fact]
    public async Task Create_FieldGivenTwiceWithABadLastValue_Is400NamingItAndStoresNothing()
    {
        var before = await CountFunctionsAsync();
        const string Body = """
            {"name":"twice-bad","runtime":"python","handler":"handler","code":"x = 1","memory_mb":128,"memory_mb":1.5}
            """;

        var response = await PostFunctionAsync(Body);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("memory_mb", out _), problem.ToString());
        Assert.Equal(before, await CountFunctionsAsync());
    }

    [Fact]
    public async Task Create_EmptyBody_Is400()
    {
        var response = await PostFunctionAsync("");

        await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Create_ValidJsonWithATextContentType_IsAccepted()
    {
        var body = JsonSerializer.Serialize(
            new { name = "text-plain", runtime = "python", code = Code, handler = "handler" });

        var response = await Server.Http.PostAsync(
            "api/functions",
            new StringContent(body, Encoding.UTF8, "text/plain"));

        await ServerHarness.ExpectAsync(response, HttpStatusCode.Created);
    }

    [Fact]
    public async Task Create_CodeOverTheSizeLimit_Is413AndStoresNothing()
    {
        var code = "x = 1\n" + new string('#', 1024 * 1024);

        var response = await Server.Http.PostAsync(
            "api/functions",
            new StringContent(
                JsonSerializer.Serialize(new { name = "too-big", runtime = "python", code, handler = "handler" }),
                Encoding.UTF8));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("MAX_FUNCTION_SIZE_MB", problem.GetProperty("detail").GetString());
        await ExpectProblemAsync(await Server.Http.GetAsync("api/functions/too-big"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Create_CodeJustUnderTheLimitEscapedSixfold_IsAccepted()
    {
        // The serializer writes each '"' as \u0022: six bytes of body per byte of code.
        var code = "def handler(event):\n    return 1\n#" + new string('"', (1024 * 1024) - 64);
        var body = JsonSerializer.Serialize(new { name = "escaped", runtime = "python", code, handler = "handler" });
        Assert.True(body.Length > 6 * 1000 * 1000);

        var response = await Server.Http.PostAsync("api/functions", new StringContent(body, Encoding.UTF8));

        await ServerHarness.ExpectAsync(response, HttpStatusCode.Created);
        var result = await Server.InvokeAsync("escaped");
        Assert.Equal(1, result.GetProperty("output").GetInt32());
    }

    [Fact]
    public async Task Create_BodyFarOverTheLimit_Is413()
    {
        var code = new string('#', 8 * 1024 * 1024);

        var response = await Server.Http.PostAsync(
            "api/functions",
            new StringContent(
                JsonSerializer.Serialize(new { name = "far-too-big", runtime = "python", code, handler = "handler" }),
                Encoding.UTF8));

        await ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        await ExpectProblemAsync(await Server.Http.GetAsync("api/functions/far-too-big"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Create_DuplicateName_Is409AndKeepsTheFirst()
    {
        await Server.DeployAsync("taken", "python", Code);

        var response = await PostFunctionAsync(
            JsonSerializer.Serialize(new { name = "taken", runtime = "node", code = "x", handler = "handler" }));

        await ExpectProblemAsync(response, HttpStatusCode.Conflict);
        var function = await Server.GetJsonAsync("api/functions/taken");
        Assert.Equal("python", function.GetProperty("runtime").GetString());
    }

    [Fact]
    public async Task Update_InvalidValues_Is400AndMakesNoVersion()
    {
        await Server.DeployAsync("stay-same", "python", Code);

        var memory = await PutAsync("stay-same", """{"memory_mb":0}""");
        var timeout = await PutAsync("stay-same", """{"timeout_secs":1000}""");
        var empty = await PutAsync("stay-same", """{"code":""}""");
        var malformed = await PutAsync("stay-same", """{"code":""");

        await ExpectProblemAsync(memory, HttpStatusCode.BadRequest);
        await ExpectProblemAsync(timeout, HttpStatusCode.BadRequest);
        await ExpectProblemAsync(empty, HttpStatusCode.BadRequest);
        await ExpectProblemAsync(malformed, HttpStatusCode.BadRequest);
        var versions = await Server.GetJsonAsync("api/functions/stay-same/versions");
        Assert.Equal(1, versions.GetArrayLength());
    }

    [Fact]
    public async Task Update_UnknownFunction_Is404()
    {
        var response = await PutAsync("never-made", """{"memory_mb":256}""");

        await ExpectProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Versions_UnknownOrMalformed_Are404And400()
    {
        await Server.DeployAsync("few-versions", "python", Code);

        await ExpectProblemAsync(
            await Server.Http.GetAsync("api/functions/few-versions/versions/99"),
            HttpStatusCode.NotFound);
        await ExpectProblemAsync(
            await Server.Http.PostAsync("api/functions/few-versions/versions/99/invoke", null),
            HttpStatusCode.NotFound);
        await ExpectProblemAsync(
            await Server.Http.PostAsync("api/functions/few-versions/rollback/99", null),
            HttpStatusCode.NotFound);
        await ExpectProblemAsync(
            await Server.Http.GetAsync("api/functions/few-versions/versions/latest"),
            HttpStatusCode.BadRequest);
        await ExpectProblemAsync(
            await Server.Http.PostAsync("api/functions/few-versions/rollback/two", null),
            HttpStatusCode.BadRequest);

        var function = await Server.GetJsonAsync("api/functions/few-versions");
        Assert.Equal(1, function.GetProperty("current_version").GetInt32());
        var history = await Server.GetJsonAsync("api/functions/few-versions/executions");
        Assert.Equal(0, history.GetArrayLength());
    }

    [Theory]
    [InlineData("strict-1", "{")]
    [InlineData("strict-2", "not json")]
    [InlineData("strict-3", "{\"a\":1} {\"b\":2}")]
    public async Task Invoke_InvalidJson_Is400AndRecordsNothing(string name, string body)
    {
        await Server.DeployAsync(name, "python", Code);

        var response = await Server.Http.PostAsync(
            $"api/functions/{name}/invoke",
            new StringContent(body, Encoding.UTF8, "application/json"));

        await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        var history = await Server.GetJsonAsync($"api/functions/{name}/executions");
        Assert.Equal(0, history.GetArrayLength());
    }

    [Fact]
    public async Task Invoke_EventOverTheLimit_Is413AndRecordsNothing()
    {
        await Server.DeployAsync("big-event", "python", Code);
        var body = $"\"{new string('x', 7 * 1024 * 1024)}\"";

        var response = await Server.Http.PostAsync(
            "api/functions/big-event/invoke",
            new StringContent(body, Encoding.UTF8, "application/json"));

        await ExpectProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        var history = await Server.GetJsonAsync("api/functions/big-event/executions");
        Assert.Equal(0, history.GetArrayLength());
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(256 * 1024)]
    public async Task Invoke_ChunkedEvent_IsHeldToTheEventLimitItselfNotToItsFraming(int chunk)
    {
        await Server.DeployAsync($"chunked-{chunk}", "python", "def handler(event):\n    return len(event)\n");
        const int Limit = 6 * 1024 * 1024;

        var atTheLimit = await Server.Http.PostAsync(
            $"api/functions/chunked-{chunk}/invoke",
            new ChunkedContent(Limit, chunk));
        var overTheLimit = await Server.Http.PostAsync(
            $"api/functions/chunked-{chunk}/invoke",
            new ChunkedContent(Limit + 1, chunk));

        var result = await ServerHarness.ExpectAsync(atTheLimit, HttpStatusCode.OK);
        Assert.Equal(Limit - 2, result.GetProperty("output").GetInt32());
        await ExpectProblemAsync(overTheLimit, HttpStatusCode.RequestEntityTooLarge);
        var history = await Server.GetJsonAsync($"api/functions/chunked-{chunk}/executions");
        Assert.Equal(1, history.GetArrayLength());
    }

    [Theory]
    [InlineData("framing-1", "api/functions/framing-1/invoke", "80000000")]
    [InlineData("framing-2", "api/functions/framing-2/invoke", "FFFFFFFFFFFFFFFF")]
    [InlineData("framing-3", "api/functions", "FFFFFFFFFFFFFFFF")]
    public async Task Post_ChunkSizeBeyondALong_Is400AndRecordsNothing(string name, string path, string chunkSize)
    {
        await Server.DeployAsync(name, "python", Code);
        var address = Server.Http.BaseAddress!;
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();

        var request = $"POST /{path} HTTP/1.1\r\nHost: {address.Authority}\r\nTransfer-Encoding: chunked\r\n"
            + $"Connection: close\r\n\r\n{chunkSize}\r\n\"a";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var statusLine = await reader.ReadLineAsync();

        Assert.StartsWith("HTTP/1.1 400", statusLine);
        Assert.Equal(0, (await Server.GetJsonAsync($"api/functions/{name}/executions")).GetArrayLength());
    }

    [Fact]
    public async Task Invoke_EventNested256Levels_RunsAndDeeperIs400()
    {
        await Server.DeployAsync("deep-event", "python", "def handler(event):\n    return len(event)\n");

        var deepest = await Server.InvokeAsync("deep-event", new string('[', 256) + new string(']', 256));
        var tooDeep = await Server.Http.PostAsync(
            "api/functions/deep-event/invoke",
            new StringContent(new string('[', 257) + new string(']', 257)));

        Assert.Equal("success", deepest.GetProperty("status").GetString());
        await ExpectProblemAsync(tooDeep, HttpStatusCode.BadRequest);
        var history = await Server.GetJsonAsync("api/functions/deep-event/executions");
        Assert.Equal(1, history.GetArrayLength());
    }

    [Fact]
    public async Task Invoke_EventNotUtf8_Is400AndRecordsNothing()
    {
        await Server.DeployAsync("bad-bytes", "python", Code);

        var response = await Server.Http.PostAsync(
            "api/functions/bad-bytes/invoke",
            new ByteArrayContent([(byte)'{', (byte)'"', (byte)'s', (byte)'"', (byte)':', (byte)'"', 0xFF, 0xFE,
                (byte)'"', (byte)'}']));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("UTF-8", problem.GetRawText());
        var history = await Server.GetJsonAsync("api/functions/bad-bytes/executions");
        Assert.Equal(0, history.GetArrayLength());
    }

    [Theory]
    [InlineData("events-1", """{"n":1e400}""", "64-bit float")]
    [InlineData("events-2", """[-1.5e309]""", "64-bit float")]
    [InlineData("events-3", """{"n":1e1000000}""", "64-bit float")]
    [InlineData("events-4", """{"n":1e-2000}""", "decimal point")]
    [InlineData("events-5", """{"n":0.5e-99999999999999999999}""", "decimal point")]
    [InlineData("events-6", """{"s":"\ud800"}""", "surrogate")]
    [InlineData("events-7", """{"\udc00x":1}""", "surrogate")]
    [InlineData("events-8", """["ok", "\ud83d\ud83d"]""", "surrogate")]
    public async Task Invoke_EventNoRuntimeOrStoreCanTake_Is400BeforeRunningAndRecordsNothing(
        string name,
        string body,
        string reason)
    {
        await Server.DeployAsync(name, "python", Code);

        var response = await Server.Http.PostAsync($"api/functions/{name}/invoke", new StringContent(body));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(reason, problem.GetProperty("errors").GetProperty("event")[0].GetString());
        var history = await Server.GetJsonAsync($"api/functions/{name}/executions");
        Assert.Equal(0, history.GetArrayLength());
    }

    [Fact]
    public async Task Invoke_EventAtTheEdgesOfWhatIsKept_RunsAndIsRecordedAsSent()
    {
        await Server.DeployAsync("edges", "python", Code);
        const string Event = """
            {"big":-1.7e308,"tiny":1e-300,"places":1e-1000,"pair":"\ud83d\ude00","escaped":"\\ud800"}
            """;

        var result = await Server.InvokeAsync("edges", Event);

        Assert.Equal("success", result.GetProperty("status").GetString());
        var record = await Server.GetJsonAsync($"api/executions/{result.GetProperty("execution_id").GetString()}");
        foreach (var kept in new[] { result.GetProperty("output"), record.GetProperty("input") })
        {
            Assert.Equal(-1.7e308, kept.GetProperty("big").GetDouble());
            Assert.Equal(1e-300, kept.GetProperty("tiny").GetDouble());
            Assert.Equal("\U0001F600", kept.GetProperty("pair").GetString());
            Assert.Equal("\\ud800", kept.GetProperty("escaped").GetString());
            Assert.Equal(0d, kept.GetProperty("places").GetDouble());
        }
    }

    [Fact]
    public async Task Invoke_UnknownFunction_Is404()
    {
        var response = await Server.Http.PostAsync("api/functions/nobody/invoke", new StringContent("{}"));

        await ExpectProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("api/functions?page=0")]
    [InlineData("api/functions?limit=0")]
    [InlineData("api/functions?limit=1000000")]
    [InlineData("api/functions/any/executions?status=bogus")]
    [InlineData("api/functions/any/executions?before=yesterday")]
    [InlineData("api/executions/not-a-uuid")]
    [InlineData("api/executions/not-a-uuid/logs")]
    public async Task Read_BadQueryOrRouteValue_Is400(string path)
    {
        var response = await Server.Http.GetAsync(path);

        await ExpectProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Read_UnknownExecution_Is404()
    {
        var id = Guid.NewGuid();

        await ExpectProblemAsync(await Server.Http.GetAsync($"api/executions/{id}"), HttpStatusCode.NotFound);
        await ExpectProblemAsync(await Server.Http.GetAsync($"api/executions/{id}/logs"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task UnknownRoute_IsAProblemNamingTheRequest()
    {
        var response = await Server.Http.GetAsync("api/nothing-here");

        var problem = await ExpectProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal(
            "No route matches GET /api/nothing-here. The routes are listed in the OpenAPI document at "
                + "/openapi/v1.json.",
            problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("PATCH", "api/functions/x", "DELETE, GET or PUT")]
    [InlineData("DELETE", "api/functions", "GET or POST")]
    [InlineData("GET", "api/functions/x/invoke", "POST")]
    public async Task WrongMethod_Is405WithAllowAndADetailNamingTheMethodsTheRouteTakes(
        string method,
        string path,
        string allowed)
    {
        var response = await Server.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.MethodNotAllowed);
        Assert.Equal(
            $"{method} is not allowed on /{path}; use {allowed}.",
            problem.GetProperty("detail").GetString());
        Assert.Equal(
            allowed.Replace(" or ", ", ", StringComparison.Ordinal).Split(", "),
            response.Content.Headers.Allow.Order(StringComparer.Ordinal));
    }

    private Task<HttpResponseMessage> PostFunctionAsync(string body) =>
        Server.Http.PostAsync("api/functions", new StringContent(body, Encoding.UTF8, "application/json"));

    private Task<HttpResponseMessage> PutAsync(string name, string body) =>
        Server.Http.PutAsync($"api/functions/{name}", new StringContent(body, Encoding.UTF8, "application/json"));

    private async Task<long> CountFunctionsAsync() =>
        (await Server.GetJsonAsync("api/functions")).GetProperty("total").GetInt64();
}

public sealed class SqliteBadInputTests(SmallLimitsServerFixture fixture)
    : BadInputTests(fixture), IClassFixture<SmallLimitsServerFixture>;

[Collection(PostgresCollection.Name)]
public sealed class PostgresBadInputTests(SmallLimitsPostgresServerFixture fixture)
    : BadInputTests(fixture), IClassFixture<SmallLimitsPostgresServerFixture>;

/// <summary>
/// A JSON string event of an exact length, sent with chunked transfer encoding in chunks of a given size.
/// </summary>
internal sealed class ChunkedContent : HttpContent
{
    private readonly int _length;
    private readonly int _chunk;

    public ChunkedContent(int length, int chunk)
    {
        _length = length;
        _chunk = chunk;
        Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        var body = new byte[_length];
        body.AsSpan().Fill((byte)'a');
        body[0] = (byte)'"';
        body[^1] = (byte)'"';
        for (var offset = 0; offset < body.Length; offset += _chunk)
        {
            await stream.WriteAsync(body.AsMemory(offset, Math.Min(_chunk, body.Length - offset)));
            await stream.FlushAsync();
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
