using CrabLambda.Server.Configuration;

namespace CrabLambda.Tests.Server;

public sealed class ServerEnvironmentTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("crablambda-env-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Read_DotEnvFile_ProvidesVariablesWithoutChangingTheProcessEnvironment()
    {
        var name = "CRABLAMBDA_TEST_" + Guid.NewGuid().ToString("N");
        File.WriteAllText(Path.Combine(_directory, ".env"), $"# comment\n{name}=from-file\nSERVER_PORT_X=9\n");

        var variables = ServerEnvironment.Read(_directory);

        Assert.Equal("from-file", variables[name]);
        Assert.Null(Environment.GetEnvironmentVariable(name));
    }

    [Fact]
    public void Read_MalformedDotEnv_FailsNamingTheFile()
    {
        File.WriteAllText(Path.Combine(_directory, ".env"), "SERVER_PORT=9000\ngarbage line without equals\n");

        var exception = Assert.Throws<ServerConfigurationException>(() => ServerEnvironment.Read(_directory));

        Assert.StartsWith(".env in ", Assert.Single(exception.Problems));
    }

    [Fact]
    public void Read_RealEnvironment_WinsOverTheFile()
    {
        var name = "CRABLAMBDA_TEST_" + Guid.NewGuid().ToString("N");
        File.WriteAllText(Path.Combine(_directory, ".env"), $"{name}=from-file\n");
        Environment.SetEnvironmentVariable(name, "from-environment");
        try
        {
            var variables = ServerEnvironment.Read(_directory);

            Assert.Equal("from-environment", variables[name]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void Read_NoFile_ReturnsTheEnvironment()
    {
        var variables = ServerEnvironment.Read(_directory);

        Assert.Equal(Environment.GetEnvironmentVariable("PATH"), variables["PATH"]);
    }
}
