namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// One real server shared by the tests of a class, storing into a database of its own on the shared
/// <see cref="PostgresServer"/> through a <c>postgresql://</c> URL, as an operator configures it. A test class that
/// uses it belongs to <see cref="PostgresCollection"/>.
/// </summary>
public class PostgresServerFixture(PostgresServer postgres) : ServerFixture
{
    protected override async Task<string?> CreateDatabaseUrlAsync() => await postgres.CreateDatabaseUrlAsync();
}
