using CrabLambda.Server.Configuration;

namespace CrabLambda.Tests.Server;

public sealed class DatabaseSettingsTests
{
    [Theory]
    [InlineData("sqlite:crablambda.db", "crablambda.db")]
    [InlineData("sqlite:/var/lib/crablambda/data.db", "/var/lib/crablambda/data.db")]
    [InlineData("sqlite:///var/lib/crablambda/data.db", "/var/lib/crablambda/data.db")]
    [InlineData("sqlite://data.db", "data.db")]
    [InlineData("SQLITE:data.db", "data.db")]
    public void Parse_Sqlite_TakesThePath(string url, string path)
    {
        var settings = DatabaseSettings.Parse(url);

        Assert.Equal(DatabaseEngine.Sqlite, settings.Engine);
        Assert.Equal(path, settings.Connection);
        Assert.Contains(Path.GetFullPath(path), settings.Description);
    }

    [Theory]
    [InlineData(
        "postgresql://app:hunter2@db.internal:5433/crab",
        "PostgreSQL database crab on db.internal:5433 as app")]
    [InlineData("postgres://app:hunter2@db.internal/crab", "PostgreSQL database crab on db.internal as app")]
    [InlineData("Host=db.internal;Database=crab;Username=app;Password=hunter2", "database crab on db.internal as app")]
    [InlineData("Server=db;Port=6000;Password=hunter2", "PostgreSQL the default database on db:6000")]
    public void Parse_Postgres_DescribesItWithoutThePassword(string url, string description)
    {
        var settings = DatabaseSettings.Parse(url);

        Assert.Equal(DatabaseEngine.PostgreSql, settings.Engine);
        Assert.Contains(description, settings.Description);
        Assert.DoesNotContain("hunter2", settings.Description);
    }

    [Theory]
    [InlineData("sqlite:")]
    [InlineData("mysql://admin:hunter2@localhost/db")]
    [InlineData("crablambda.db")]
    [InlineData("postgresql://:hunter2@/")]
    [InlineData("Database=crab;Password=hunter2")]
    public void TryParse_Unusable_SaysWhyWithoutEchoingIt(string url)
    {
        Assert.False(DatabaseSettings.TryParse(url, out _, out var problem));

        Assert.NotEmpty(problem);
        Assert.DoesNotContain("hunter2", problem);
    }
}
