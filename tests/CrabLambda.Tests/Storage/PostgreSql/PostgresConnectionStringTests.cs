using CrabLambda.PostgreSql;
using Npgsql;

namespace CrabLambda.Tests.Storage.PostgreSql;

public sealed class PostgresConnectionStringTests
{
    private const string Password = "Sup3rS3cret";

    [Fact]
    public void FromUrl_FullUrl_MapsEveryPart()
    {
        var result = Parse(PostgresConnectionString.FromUrl(
            "postgresql://app%20user:s3cr%40t%2F%3A%3F%23%25x@db.example.com:6543/crab%2Ddb"
            + "?sslmode=require&application_name=crab%20lambda&connect_timeout=7"));

        Assert.Equal("db.example.com", result.Host);
        Assert.Equal(6543, result.Port);
        Assert.Equal("app user", result.Username);
        Assert.Equal("s3cr@t/:?#%x", result.Password);
        Assert.Equal("crab-db", result.Database);
        Assert.Equal(SslMode.Require, result.SslMode);
        Assert.Equal("crab lambda", result.ApplicationName);
        Assert.Equal(7, result.Timeout);
    }

    [Fact]
    public void FromUrl_PostgresSchemeWithoutPortOrCredentials_UsesTheDefaultPort()
    {
        var result = Parse(PostgresConnectionString.FromUrl("postgres://localhost/crablambda"));

        Assert.Equal("localhost", result.Host);
        Assert.Equal(5432, result.Port);
        Assert.Equal("crablambda", result.Database);
        Assert.Null(result.Password);
    }

    [Theory]
    [InlineData("postgresql://u:p@[::1]:5433/db", "::1", 5433)]
    [InlineData("postgresql://u:p@[2001:db8::7]/db", "2001:db8::7", 5432)]
    [InlineData("POSTGRESQL://u:p@127.0.0.1:6000", "127.0.0.1", 6000)]
    public void FromUrl_Hosts_AreReadWithTheirPorts(string url, string host, int port)
    {
        var result = Parse(PostgresConnectionString.FromUrl(url));

        Assert.Equal(host, result.Host);
        Assert.Equal(port, result.Port);
    }

    [Theory]
    [InlineData("disable", SslMode.Disable)]
    [InlineData("allow", SslMode.Allow)]
    [InlineData("prefer", SslMode.Prefer)]
    [InlineData("require", SslMode.Require)]
    [InlineData("verify-ca", SslMode.VerifyCA)]
    [InlineData("verify-full", SslMode.VerifyFull)]
    public void FromUrl_SslMode_MapsLibpqNames(string value, SslMode expected)
    {
        var result = Parse(PostgresConnectionString.FromUrl($"postgresql://u:p@h/db?sslmode={value}"));

        Assert.Equal(expected, result.SslMode);
    }

    [Fact]
    public void FromUrl_NpgsqlKeywordsAsParameters_AreApplied()
    {
        var result = Parse(PostgresConnectionString.FromUrl(
            "postgresql://u:p@h/db?pooling=false&timeout=9&command_timeout=40&maximum_pool_size=7"
            + "&sslrootcert=%2Fetc%2Fssl%2Fca.pem&target_session_attrs=read-write"));

        Assert.False(result.Pooling);
        Assert.Equal(9, result.Timeout);
        Assert.Equal(40, result.CommandTimeout);
        Assert.Equal(7, result.MaxPoolSize);
        Assert.Equal("/etc/ssl/ca.pem", result.RootCertificate);
        Assert.Equal("read-write", result.TargetSessionAttributes);
    }

    [Fact]
    public void FromUrl_UnencodedAtSignInPassword_StillParses()
    {
        var result = Parse(PostgresConnectionString.FromUrl("postgresql://u:p@ss@h:5000/db"));

        Assert.Equal("p@ss", result.Password);
        Assert.Equal("h", result.Host);
        Assert.Equal(5000, result.Port);
    }

    [Theory]
    [InlineData("postgresql://u:Sup3rS3cret@host:99999/db", "port")]
    [InlineData("postgresql://u:Sup3rS3cret@host:abc/db", "port")]
    [InlineData("postgresql://u:Sup3rS3cret@host:/db", "port")]
    [InlineData("postgresql://u:Sup3r/S3cret@host/db", "percent-encode")]
    [InlineData("postgresql://u:Sup3r?S3cret@host/db", "percent-encode")]
    [InlineData("postgresql://u:12?x=Sup3rS3cret@host/db", "percent-encode")]
    [InlineData("postgresql://u:Sup3r#S3cret@host/db", "%23")]
    [InlineData("postgresql://u:Sup3r%ZZS3cret@host/db", "password")]
    [InlineData("postgresql://u:Sup3r%C3S3cret@host/db", "UTF-8")]
    [InlineData("postgresql://u:Sup3rS3cret@/db", "no host")]
    [InlineData("postgresql://u:Sup3rS3cret@host/db?sslmode=bogus", "sslmode")]
    [InlineData("postgresql://u:Sup3rS3cret@host/db?no_such_setting=1", "no_such_setting")]
    [InlineData("postgresql://u:Sup3rS3cret@host/db?pooling=maybe", "pooling")]
    [InlineData("postgresql://u:Sup3rS3cret@host/db?password", "name=value")]
    [InlineData("postgresql://u:p@host/db?password=Sup3rS3cret&port=0", "port")]
    [InlineData("postgresql://u:Sup3rS3cret@host/db/extra", "database name")]
    [InlineData("postgresql://u:Sup3rS3cret@[::1/db", "IPv6")]
    [InlineData("postgresql://u:Sup3rS3cret@[::1]x/db", "IPv6")]
    [InlineData("postgresql://u:Sup3rS3cret@a::1/db", "brackets")]
    [InlineData("postgresql://u:Sup3rS3cret@h1,h2/db", "several hosts")]
    [InlineData("mysql://u:Sup3rS3cret@host/db", "scheme")]
    [InlineData("Sup3rS3cret://u@host/db", "scheme")]
    [InlineData("u:Sup3rS3cret@host/db", "scheme")]
    public void FromUrl_BadUrl_ThrowsFormatExceptionThatNamesTheProblemButNotThePassword(string url, string hint)
    {
        var exception = Assert.Throws<FormatException>(() => PostgresConnectionString.FromUrl(url));

        Assert.Contains(hint, exception.Message, StringComparison.Ordinal);
        AssertNoPassword(exception);
    }

    [Fact]
    public void Normalize_KeywordString_IsKeptAsAConnectionString()
    {
        var result = Parse(PostgresConnectionString.Normalize(
            " Host=db;Port=6000;Username=app;Password=p;Database=crab "));

        Assert.Equal(("db", 6000, "app", "p", "crab"), (result.Host, result.Port, result.Username, result.Password,
            result.Database));
    }

    [Fact]
    public void Normalize_KeywordStringWithSchemeLikePassword_IsNotTakenForAUrl()
    {
        var result = Parse(PostgresConnectionString.Normalize("Host=db;Username=app;Password=ab://cd"));

        Assert.Equal(("db", "ab://cd"), (result.Host, result.Password));
    }

    [Fact]
    public void Normalize_Url_GivesTheSameAsFromUrl()
    {
        const string url = "postgres://app:p%40ss@db:6000/crab?sslmode=disable";

        Assert.Equal(PostgresConnectionString.FromUrl(url), PostgresConnectionString.Normalize(url));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("Host=db;Password=Sup3rS3cret;Bogus Keyword=1", "Npgsql connection string")]
    [InlineData("Host=db;Password=Sup3r;S3cret=x", "Npgsql connection string")]
    [InlineData("Username=app;Password=Sup3rS3cret", "no host")]
    [InlineData("sqlite://Sup3rS3cret", "scheme")]
    public void Normalize_BadValue_ThrowsFormatExceptionWithoutThePassword(string value, string hint)
    {
        var exception = Assert.Throws<FormatException>(() => PostgresConnectionString.Normalize(value));

        Assert.Contains(hint, exception.Message, StringComparison.Ordinal);
        AssertNoPassword(exception);
    }

    private static NpgsqlConnectionStringBuilder Parse(string connectionString) => new(connectionString);

    private static void AssertNoPassword(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            Assert.DoesNotContain("Sup3r", current.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("S3cret", current.Message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(Password, exception.ToString(), StringComparison.Ordinal);
    }
}
