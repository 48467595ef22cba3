using System.Net;
using CrabLambda.PostgreSql;
using CrabLambda.Tests.Infrastructure;
using Npgsql;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// The standalone server with <c>DATABASE_URL</c> set to a <c>postgresql://</c> URL of a real PostgreSQL server.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresServerEndToEndTests(PostgresServer postgres)
{
    [Fact]
    public async Task Server_PostgresUrl_IsReadyAndDeploysInvokesAndDeletesThroughPostgres()
    {
        var url = await postgres.CreateDatabaseUrlAsync();
        var connection = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(url));
        var server = await ServerHarness.StartAsync(new Dictionary<string, string?> { ["DATABASE_URL"] = url });
        await using var _ = server;

        var ready = await server.Http.GetAsync("health/ready");
        await server.DeployAsync("pg-hello", "python", FunctionCode.PythonQuickStart);
        var result = await server.InvokeAsync("pg-hello", """{"name":"CrabLambda"}""");
        var logs = await server.GetJsonAsync($"api/executions/{result.GetProperty("execution_id")}/logs");
        var delete = await server.Http.DeleteAsync("api/functions/pg-hello");
        var gone = await server.Http.GetAsync($"api/executions/{result.GetProperty("execution_id")}");

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Hello, CrabLambda!", result.GetProperty("output").GetString());
        Assert.Equal("greeting CrabLambda", Assert.Single(logs.EnumerateArray()).GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        var storage = Assert.Single(
            server.Logs.Records,
            r => r.Category == "CrabLambda.Server" && r.Message.StartsWith("Storage:", StringComparison.Ordinal));
        Assert.Contains($"PostgreSQL database {connection.Database} on {connection.Host}", storage.Message);
        if (!string.IsNullOrEmpty(connection.Password))
        {
            Assert.DoesNotContain(connection.Password, string.Join("\n", server.Logs.Records.Select(r => r.Message)));
        }
    }
}
