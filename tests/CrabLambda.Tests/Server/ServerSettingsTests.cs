using System.Net;
using CrabLambda.Execution.Sandbox;
using CrabLambda.Server.Configuration;

namespace CrabLambda.Tests.Server;

public sealed class ServerSettingsTests
{
    [Fact]
    public void Parse_NoVariables_TakesEveryDefaultOfTheContract()
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?>());

        Assert.Equal(DatabaseEngine.Sqlite, settings.Database.Engine);
        Assert.Equal("crablambda.db", settings.Database.Connection);
        Assert.Equal(IPAddress.Any, settings.Host);
        Assert.Equal(8080, settings.Port);
        Assert.Equal(10, settings.MaxFunctionSizeMb);
        Assert.Equal(128, settings.DefaultMemoryMb);
        Assert.Equal(30, settings.DefaultTimeoutSecs);
        Assert.Equal(300, settings.MaxTimeoutSecs);
        Assert.Equal(100, settings.MaxConcurrentExecutions);
        Assert.Equal(30, settings.ExecutionLogRetentionDays);
        Assert.False(settings.EnableAuth);
        Assert.Null(settings.ApiKey);
        Assert.Equal(ExecutorKind.Process, settings.Executor);
        Assert.Equal(IsolationMode.Auto, settings.Isolation);
        Assert.False(settings.FunctionNetwork);
        Assert.Equal(2, settings.PrestartedWorkers);
        Assert.Equal(32, settings.MaxIdleWorkers);
        Assert.Equal(30, settings.ShutdownTimeoutSecs);
        Assert.Equal(TimeSpan.FromSeconds(25), settings.ShutdownGrace);
        Assert.Equal("unix:///var/run/docker.sock", settings.DockerHost);
        Assert.Empty(settings.DockerImages);
    }

    [Fact]
    public void Parse_EveryVariableSet_ReadsEach()
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = "sqlite:/tmp/x.db",
            ["SERVER_HOST"] = "127.0.0.1",
            ["SERVER_PORT"] = "9090",
            ["MAX_FUNCTION_SIZE_MB"] = "5",
            ["DEFAULT_MEMORY_MB"] = "256",
            ["DEFAULT_TIMEOUT_SECS"] = "10",
            ["MAX_TIMEOUT_SECS"] = "900",
            ["MAX_CONCURRENT_EXECUTIONS"] = "4",
            ["EXECUTION_LOG_RETENTION_DAYS"] = "7",
            ["ENABLE_AUTH"] = "TRUE",
            ["API_KEY"] = " s3cret ",
            ["EXECUTOR"] = "Process",
            ["ISOLATION"] = "none",
            ["FUNCTION_NETWORK"] = "1",
            ["PRESTARTED_WORKERS"] = "0",
            ["MAX_IDLE_WORKERS"] = "0",
            ["DOCKER_HOST"] = "tcp://127.0.0.1:2375",
            ["DOCKER_IMAGE_PYTHON"] = "python:3.12-slim",
        });

        Assert.Equal("/tmp/x.db", settings.Database.Connection);
        Assert.Equal(IPAddress.Loopback, settings.Host);
        Assert.Equal(9090, settings.Port);
        Assert.Equal(5, settings.MaxFunctionSizeMb);
        Assert.Equal(256, settings.DefaultMemoryMb);
        Assert.Equal(10, settings.DefaultTimeoutSecs);
        Assert.Equal(900, settings.MaxTimeoutSecs);
        Assert.Equal(4, settings.MaxConcurrentExecutions);
        Assert.Equal(7, settings.ExecutionLogRetentionDays);
        Assert.True(settings.EnableAuth);
        Assert.Equal("s3cret", settings.ApiKey);
        Assert.Equal(IsolationMode.None, settings.Isolation);
        Assert.True(settings.FunctionNetwork);
        Assert.Equal(0, settings.PrestartedWorkers);
        Assert.Equal(0, settings.MaxIdleWorkers);
        Assert.Equal("tcp://127.0.0.1:2375", settings.DockerHost);
        Assert.Equal("python:3.12-slim", settings.DockerImages["python"]);
    }

    [Fact]
    public void Parse_EmptyValues_TakeDefaults()
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?>
        {
            ["SERVER_PORT"] = "",
            ["API_KEY"] = "  ",
            ["ENABLE_AUTH"] = "",
        });

        Assert.Equal(8080, settings.Port);
        Assert.Null(settings.ApiKey);
        Assert.False(settings.EnableAuth);
    }

    [Theory]
    [InlineData("SERVER_PORT", "abc", "SERVER_PORT=abc")]
    [InlineData("SERVER_PORT", "70000", "0 to 65535")]
    [InlineData("SERVER_HOST", "my host", "SERVER_HOST=my host")]
    [InlineData("MAX_TIMEOUT_SECS", "5000", "MAX_TIMEOUT_SECS=5000")]
    [InlineData("MAX_TIMEOUT_SECS", "0", "1 to 900")]
    [InlineData("DEFAULT_TIMEOUT_SECS", "301", "MAX_TIMEOUT_SECS")]
    [InlineData("DEFAULT_MEMORY_MB", "20000", "1 to 10240")]
    [InlineData("DEFAULT_MEMORY_MB", "0", "DEFAULT_MEMORY_MB=0")]
    [InlineData("MAX_FUNCTION_SIZE_MB", "0", "MAX_FUNCTION_SIZE_MB=0")]
    [InlineData("MAX_FUNCTION_SIZE_MB", "ten", "MAX_FUNCTION_SIZE_MB=ten")]
    [InlineData("MAX_CONCURRENT_EXECUTIONS", "-1", "MAX_CONCURRENT_EXECUTIONS=-1")]
    [InlineData("EXECUTION_LOG_RETENTION_DAYS", "1.5", "EXECUTION_LOG_RETENTION_DAYS=1.5")]
    [InlineData(
        "ENABLE_AUTH",
        "maybe",
        "ENABLE_AUTH=maybe is not valid: it must be true or false (also 1 or 0, yes or no, on or off).")]
    [InlineData(
        "FUNCTION_NETWORK",
        "sometimes",
        "FUNCTION_NETWORK=sometimes is not valid: it must be true or false (also 1 or 0, yes or no, on or off).")]
    [InlineData("PRESTARTED_WORKERS", "17", "0 to 16")]
    [InlineData("PRESTARTED_WORKERS", "-1", "PRESTARTED_WORKERS=-1")]
    [InlineData("MAX_IDLE_WORKERS", "-1", "0 to 10000")]
    [InlineData("SHUTDOWN_TIMEOUT_SECS", "0", "1 to 3600")]
    [InlineData("EXECUTOR", "kubernetes", "EXECUTOR=kubernetes is not valid: it must be one of process, docker")]
    [InlineData("ISOLATION", "strong", "ISOLATION=strong")]
    [InlineData("DATABASE_URL", "mysql://admin@localhost/db", "DATABASE_URL")]
    public void Parse_BadValue_FailsNamingTheVariable(string name, string value, string expected)
    {
        var exception = Assert.Throws<ServerConfigurationException>(
            () => ServerSettings.Parse(new Dictionary<string, string?> { [name] = value }));

        var problem = Assert.Single(exception.Problems);
        Assert.Contains(expected, problem);
        Assert.StartsWith(name, problem);
        Assert.Contains(problem, exception.Message);
    }

    [Fact]
    public void Parse_SeveralBadValues_NamesEveryOne()
    {
        var exception = Assert.Throws<ServerConfigurationException>(() => ServerSettings.Parse(
            new Dictionary<string, string?> { ["SERVER_PORT"] = "abc", ["ENABLE_AUTH"] = "maybe" }));

        Assert.Equal(2, exception.Problems.Count);
    }

    [Fact]
    public void Parse_AuthWithoutKey_FailsNamingApiKey()
    {
        var exception = Assert.Throws<ServerConfigurationException>(
            () => ServerSettings.Parse(new Dictionary<string, string?> { ["ENABLE_AUTH"] = "true" }));

        Assert.Contains("API_KEY is not set", Assert.Single(exception.Problems));
    }

    [Fact]
    public void Parse_KeyWithoutAuth_LeavesAuthOff()
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?> { ["API_KEY"] = "k" });

        Assert.False(settings.EnableAuth);
    }

    [Fact]
    public void Parse_InterpreterThatIsNoProgram_FailsNamingTheVariable()
    {
        var exception = Assert.Throws<ServerConfigurationException>(
            () => ServerSettings.Parse(new Dictionary<string, string?>
            {
                ["CRABLAMBDA_PYTHON"] = "/nonexistent/python3",
                ["CRABLAMBDA_NODE"] = "/bin/sh",
            }));

        var problem = Assert.Single(exception.Problems);
        Assert.StartsWith("CRABLAMBDA_PYTHON=/nonexistent/python3", problem);
    }

    [Fact]
    public void Parse_Interpreters_AreKeptForTheRuntimes()
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?>
        {
            ["CRABLAMBDA_PYTHON"] = "/bin/sh",
            ["CRABLAMBDA_NODE"] = "sh",
        });

        Assert.Equal("/bin/sh", settings.PythonInterpreter);
        Assert.Equal("sh", settings.NodeInterpreter);
    }

    [Fact]
    public void Parse_DockerExecutor_IsAccepted()
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?> { ["EXECUTOR"] = "docker" });

        Assert.Equal(ExecutorKind.Docker, settings.Executor);
    }

    [Theory]
    [InlineData("/var/run/docker.sock")]
    [InlineData("ssh://builder@host")]
    [InlineData("docker")]
    public void Parse_BadDockerHost_FailsNamingTheVariable(string value)
    {
        var exception = Assert.Throws<ServerConfigurationException>(
            () => ServerSettings.Parse(new Dictionary<string, string?> { ["DOCKER_HOST"] = value }));

        Assert.Contains("DOCKER_HOST", Assert.Single(exception.Problems));
    }

    [Theory]
    [InlineData("auto", IsolationMode.Auto)]
    [InlineData("NONE", IsolationMode.None)]
    [InlineData("sandbox", IsolationMode.Sandbox)]
    public void Parse_Isolation_IsAppliedToTheEngine(string value, IsolationMode expected)
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?> { ["ISOLATION"] = value });
        var options = new CrabLambdaOptions();

        settings.Apply(options);

        Assert.Equal(expected, settings.Isolation);
        Assert.Equal(expected, options.Isolation);
    }

    [Fact]
    public void Parse_UnknownIsolation_NamesTheVariable()
    {
        var exception = Assert.Throws<ServerConfigurationException>(
            () => ServerSettings.Parse(new Dictionary<string, string?> { ["ISOLATION"] = "strong" }));

        Assert.Contains("ISOLATION", Assert.Single(exception.Problems));
    }

    [Theory]
    [InlineData("mysql://admin:hunter2@localhost/db")]
    [InlineData("postgresql://admin:hunter2@")]
    [InlineData("postgresql://admin:hunter2@host/db#x")]
    [InlineData("Host=;Password=hunter2")]
    public void Parse_DatabasePasswordInABadUrl_IsNotEchoed(string url)
    {
        var exception = Assert.Throws<ServerConfigurationException>(() => ServerSettings.Parse(
            new Dictionary<string, string?> { ["DATABASE_URL"] = url }));

        Assert.DoesNotContain("hunter2", exception.Message);
        Assert.Contains("DATABASE_URL", exception.Message);
    }

    [Theory]
    [InlineData("30", 25)]
    [InlineData("120", 115)]
    [InlineData("6", 3)]
    [InlineData("1", 0.5)]
    public void Parse_ShutdownTimeout_LeavesItsLastSecondsForStoppingAndRecording(string value, double graceSecs)
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?> { ["SHUTDOWN_TIMEOUT_SECS"] = value });
        var options = new CrabLambdaOptions();

        settings.Apply(options);

        Assert.Equal(int.Parse(value), settings.ShutdownTimeoutSecs);
        Assert.Equal(TimeSpan.FromSeconds(graceSecs), options.ShutdownGrace);
    }

    [Fact]
    public void Apply_CopiesEngineSettingsOntoTheOptions()
    {
        var settings = ServerSettings.Parse(new Dictionary<string, string?>
        {
            ["MAX_FUNCTION_SIZE_MB"] = "3",
            ["DEFAULT_MEMORY_MB"] = "64",
            ["DEFAULT_TIMEOUT_SECS"] = "5",
            ["MAX_TIMEOUT_SECS"] = "60",
            ["MAX_CONCURRENT_EXECUTIONS"] = "2",
            ["EXECUTION_LOG_RETENTION_DAYS"] = "9",
            ["FUNCTION_NETWORK"] = "true",
            ["PRESTARTED_WORKERS"] = "3",
            ["MAX_IDLE_WORKERS"] = "7",
        });
        var options = new CrabLambdaOptions();

        settings.Apply(options);

        Assert.Equal(3, options.MaxFunctionSizeMb);
        Assert.Equal(64, options.DefaultMemoryMb);
        Assert.Equal(5, options.DefaultTimeoutSecs);
        Assert.Equal(60, options.MaxTimeoutSecs);
        Assert.Equal(2, options.MaxConcurrentExecutions);
        Assert.Equal(9, options.ExecutionLogRetentionDays);
        Assert.True(options.DefaultNetwork);
        Assert.Equal(3, options.PrestartedWorkersPerRuntime);
        Assert.Equal(7, options.MaxIdleWorkers);
    }
}
