using System.Net;
using System.Net.Sockets;
using CrabLambda.Functions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Moq;
using Npgsql;
using static CrabLambda.Tests.Hosting.FunctionRoutesTests;

namespace CrabLambda.Tests.Hosting;

/// <summary>
/// A store that cannot serve for now is a 503 with <c>Retry-After</c> and a warning; one that failed is a 500 and
/// an error with its exception. The exceptions are the ones the stores raise (see <c>StorageOutageTests</c> for
/// PostgreSQL stopped under a running server).
/// </summary>
public sealed class StorageFailureRoutesTests : IAsyncLifetime
{
    private RouteHost _host = null!;

    public static TheoryData<string> Unavailable =>
    [
        "postgres-refused", "postgres-shut-down", "postgres-timeout", "sqlite-busy", "sqlite-locked", "sqlite-cantopen",
    ];

    public static TheoryData<string> Failed =>
        ["postgres-permission", "postgres-syntax", "sqlite-corrupt", "sqlite-constraint", "not-a-database-failure"];

    public async Task InitializeAsync() => _host = await RouteHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [MemberData(nameof(Unavailable))]
    public async Task List_StoreUnreachableOrBusy_Returns503WithRetryAfterAndLogsAWarning(string kind)
    {
        _host.Client
            .Setup(c => c.ListAsync(1, 10, It.IsAny<CancellationToken>()))
            .ThrowsAsync(Failure(kind));

        var response = await _host.Http.GetAsync("api/functions");

        var problem = await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("Storage unavailable", problem.GetProperty("title").GetString());
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
        var warning = Assert.Single(_host.Logs.Records, r => r.Level >= LogLevel.Warning);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("GET /api/functions", warning.Message);
        Assert.Contains(Failure(kind).Message, warning.Message);
    }

    [Theory]
    [MemberData(nameof(Failed))]
    public async Task List_StoreFailedOtherwise_Returns500AndLogsTheExceptionAsAnError(string kind)
    {
        var failure = Failure(kind);
        _host.Client
            .Setup(c => c.ListAsync(1, 10, It.IsAny<CancellationToken>()))
            .ThrowsAsync(failure);

        var response = await _host.Http.GetAsync("api/functions");

        var problem = await AssertProblemAsync(response, HttpStatusCode.InternalServerError);
        Assert.Equal("Unexpected server error", problem.GetProperty("title").GetString());
        Assert.Null(response.Headers.RetryAfter);
        var error = Assert.Single(_host.Logs.Records, r => r.Level >= LogLevel.Warning);
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Same(failure, error.Exception);
    }

    [Fact]
    public async Task Invoke_RanButTheStoreWasUnreachable_Returns503SayingTheFunctionRan()
    {
        _host.Client
            .Setup(c => c.InvokeAsync("hello", It.IsAny<ReadOnlyMemory<byte>>(), null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ExecutionNotRecordedException("not recorded", Failure("postgres-shut-down")));

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json("{}"));

        var problem = await AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("Storage unavailable", problem.GetProperty("title").GetString());
        Assert.Contains("The function ran", problem.GetProperty("detail").GetString());
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(LogLevel.Warning, Assert.Single(_host.Logs.Records, r => r.Level >= LogLevel.Warning).Level);
    }

    [Fact]
    public async Task Invoke_RanButTheStoreFailed_Returns500SayingTheFunctionRanAndLogsTheException()
    {
        var failure = new ExecutionNotRecordedException("not recorded", Failure("sqlite-constraint"));
        _host.Client
            .Setup(c => c.InvokeAsync("hello", It.IsAny<ReadOnlyMemory<byte>>(), null, It.IsAny<CancellationToken>()))
            .ThrowsAsync(failure);

        var response = await _host.Http.PostAsync("api/functions/hello/invoke", RouteHost.Json("{}"));

        var problem = await AssertProblemAsync(response, HttpStatusCode.InternalServerError);
        Assert.Contains("The function ran", problem.GetProperty("detail").GetString());
        var error = Assert.Single(_host.Logs.Records, r => r.Level >= LogLevel.Warning);
        Assert.Equal(LogLevel.Error, error.Level);
        Assert.Same(failure, error.Exception);
    }

    private static Exception Failure(string kind) => kind switch
    {
        "postgres-refused" => new NpgsqlException(
            "Failed to connect to 127.0.0.1:5432",
            new SocketException((int)SocketError.ConnectionRefused)),
        "postgres-shut-down" => new PostgresException(
            "terminating connection due to administrator command", "FATAL", "FATAL", "57P01"),
        "postgres-timeout" => new NpgsqlException("The operation has timed out", new TimeoutException()),
        "postgres-permission" => new PostgresException("permission denied for table functions", "ERROR", "ERROR",
            "42501"),
        "postgres-syntax" => new PostgresException("syntax error at or near \"SELEC\"", "ERROR", "ERROR", "42601"),
        "sqlite-busy" => new SqliteException("SQLite Error 5: 'database is locked'.", 5),
        "sqlite-locked" => new SqliteException("SQLite Error 6: 'database table is locked'.", 6),
        "sqlite-cantopen" => new SqliteException("SQLite Error 14: 'unable to open database file'.", 14),
        "sqlite-corrupt" => new SqliteException("SQLite Error 11: 'database disk image is malformed'.", 11),
        "sqlite-constraint" => new SqliteException("SQLite Error 19: 'CHECK constraint failed'.", 19),
        "not-a-database-failure" => new InvalidOperationException("disk on fire", new TimeoutException("slow")),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
