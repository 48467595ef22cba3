using CrabLambda.PostgreSql;
using CrabLambda.Runtimes.Node;
using CrabLambda.Runtimes.Python;
using CrabLambda.Server.Authentication;
using CrabLambda.Server.Configuration;
using CrabLambda.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Options;

namespace CrabLambda.Server;

/// <summary>
/// The standalone CrabLambda server: configuration from the environment, storage, executor, authentication, the
/// REST API under <c>/api</c>, health probes and the OpenAPI document, wired into one ASP.NET Core application.
/// </summary>
public static partial class CrabLambdaServer
{
    /// <summary>The path prefix of the REST API.</summary>
    public const string ApiPrefix = "/api";

    // HEAD answers as GET does, without the body, for probes and monitors that only look at the status.
    private static readonly string[] s_healthMethods = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>
    /// Builds the server from the process environment and a <c>.env</c> file in the working directory.
    /// </summary>
    /// <param name="args">Command-line arguments, passed to ASP.NET Core.</param>
    /// <exception cref="ServerConfigurationException">A variable is invalid.</exception>
    public static WebApplication Build(string[] args) =>
        Build(args, ServerEnvironment.Read(Directory.GetCurrentDirectory()));

    /// <summary>
    /// Builds the server from the given variables only, for example to run it inside a test.
    /// </summary>
    /// <param name="args">Command-line arguments, passed to ASP.NET Core.</param>
    /// <param name="variables">The configuration variables (<c>DATABASE_URL</c>, <c>SERVER_PORT</c> …).</param>
    /// <exception cref="ServerConfigurationException">A variable is invalid.</exception>
    public static WebApplication Build(string[] args, IReadOnlyDictionary<string, string?> variables) =>
        Build(args, variables, configure: null);

    /// <summary>
    /// Builds, runs until Ctrl-C or SIGTERM, and returns the process exit code: 0 after a clean stop, 1 when the
    /// configuration is invalid or the server could not start.
    /// </summary>
    /// <param name="args">Command-line arguments, passed to ASP.NET Core.</param>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (ServerConfigurationException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message);
            return 1;
        }

        await using (app)
        {
            var database = app.Services.GetRequiredService<ServerSettings>().Database;
            if (await DatabaseCheck.FindProblemAsync(database, CancellationToken.None) is { } problem)
            {
                await Console.Error.WriteLineAsync("CrabLambda could not start: " + problem);
                return 1;
            }

            try
            {
                await app.StartAsync();
            }
            catch (OptionsValidationException exception)
            {
                await Console.Error.WriteLineAsync("The server's configuration is invalid: " + exception.Message);
                return 1;
            }
            catch (Exception exception) when (DatabaseCheck.FindDatabaseFailure(exception) is { } failure)
            {
                // The database answered the check, then failed while it was migrated.
                await Console.Error.WriteLineAsync(
                    "CrabLambda could not start: " + DatabaseCheck.Describe(database, failure));
                return 1;
            }
            catch (Exception exception)
            {
                await Console.Error.WriteLineAsync("CrabLambda could not start: " + exception.Message);
                return 1;
            }

            // Returns after Ctrl-C or SIGTERM, once the host has stopped, with every worker.
            await app.WaitForShutdownAsync();
            return 0;
        }
    }

    internal static WebApplication Build(
        string[] args,
        IReadOnlyDictionary<string, string?> variables,
        Action<WebApplicationBuilder>? configure)
    {
        var settings = ServerSettings.Parse(variables);

        var builder = WebApplication.CreateBuilder(args);
        AddLoggingDefaults(builder.Configuration);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(settings.Host, settings.Port));
        builder.Services.Configure<HostOptions>(
            host => host.ShutdownTimeout = TimeSpan.FromSeconds(settings.ShutdownTimeoutSecs));
        builder.Services.AddSingleton(settings);
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi();

        var crabLambda = builder.Services.AddCrabLambda(settings.Apply);
        if (settings.PythonInterpreter is { } python)
        {
            builder.Services.Configure<PythonRuntimeOptions>(o => o.Interpreter = python);
        }

        if (settings.NodeInterpreter is { } node)
        {
            builder.Services.Configure<NodeRuntimeOptions>(o => o.Interpreter = node);
        }

        AddStorage(crabLambda, settings.Database);
        if (settings.Executor == ExecutorKind.Docker)
        {
            crabLambda.AddDocker(docker =>
            {
                docker.Endpoint = settings.DockerHost;
                foreach (var (runtime, image) in settings.DockerImages)
                {
                    docker.Images[runtime] = image;
                }
            });
        }

        if (settings.EnableAuth)
        {
            builder.Services.AddApiKeyAuthentication(settings.ApiKey!);
        }

        configure?.Invoke(builder);
        var app = builder.Build();

        // Answers that no route produced (an unknown path, a wrong method) are problems too, with a detail. They are
        // the server's: an app that embeds the routes keeps its own status-code pages.
        app.UseExceptionHandler();
        app.UseStatusCodePages(StatusCodeProblems.WriteAsync);

        var api = app.MapCrabLambda(ApiPrefix);
        if (settings.EnableAuth)
        {
            api.RequireAuthorization(ApiKeyAuthentication.PolicyName);
        }

        MapHealth(app);
        app.MapOpenApi();

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CrabLambda.Server");
        app.Lifetime.ApplicationStarted.Register(() => LogStarted(logger, app.Services, settings));
        return app;
    }

    // One line per request is noise for an operator. These defaults go first in the list of sources, so
    // appsettings.json, Logging__LogLevel__* variables and command-line arguments still override them.
    private static void AddLoggingDefaults(ConfigurationManager configuration)
    {
        var defaults = new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
            },
        };
        ((IConfigurationBuilder)configuration).Sources.Insert(0, defaults);
    }

    private static void AddStorage(ICrabLambdaBuilder crabLambda, DatabaseSettings database)
    {
        if (database.Engine == DatabaseEngine.Sqlite)
        {
            try
            {
                // Makes the file's folder when it is missing.
                crabLambda.AddSqlite(database.Connection);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new ServerConfigurationException(
                [
                    $"DATABASE_URL names the {database.Description}, whose folder cannot be made: {exception.Message}",
                ]);
            }
        }
        else
        {
            crabLambda.AddPostgres(database.Connection);
        }
    }

    private static void MapHealth(WebApplication app)
    {
        app.MapMethods("/health", s_healthMethods, () => TypedResults.Ok(new HealthStatus("live")))
            .WithName("Health")
            .ExcludeFromDescription();

        app.MapMethods(
                "/health/ready",
                s_healthMethods,
                async Task<IResult> (CrabLambdaHealth health, CancellationToken cancellationToken) =>
                    await health.IsReadyAsync(cancellationToken)
                        ? TypedResults.Ok(new HealthStatus("ready"))
                        : TypedResults.Json(
                            new HealthStatus("not ready"),
                            statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithName("Readiness")
            .ExcludeFromDescription();
    }

    private static void LogStarted(ILogger logger, IServiceProvider services, ServerSettings settings)
    {
        var addresses = services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var listening = addresses is { Count: > 0 } ? string.Join(", ", addresses) : $"{settings.Host}:{settings.Port}";

        LogListening(logger, listening, ApiPrefix);
        LogStorage(logger, settings.Database.Description);
        if (settings.Executor == ExecutorKind.Process)
        {
            LogExecutor(logger, settings.MaxConcurrentExecutions);
        }
        else
        {
            LogConcurrency(logger, settings.MaxConcurrentExecutions);
        }

        LogLimits(
            logger,
            settings.MaxFunctionSizeMb,
            settings.DefaultMemoryMb,
            settings.DefaultTimeoutSecs,
            settings.MaxTimeoutSecs,
            settings.FunctionNetwork ? "allowed" : "off",
            settings.ExecutionLogRetentionDays);

        if (settings.EnableAuth)
        {
            LogAuthOn(logger);
        }
        else if (settings.ApiKey is not null)
        {
            LogAuthOffKeyIgnored(logger);
        }
        else
        {
            LogAuthOff(logger);
        }
    }

    private sealed record HealthStatus(string Status);

    [LoggerMessage(1, LogLevel.Information, "CrabLambda listening on {Addresses}; the API is under {Prefix}")]
    private static partial void LogListening(ILogger logger, string addresses, string prefix);

    [LoggerMessage(2, LogLevel.Information, "Storage: {Storage}")]
    private static partial void LogStorage(ILogger logger, string storage);

    [LoggerMessage(
        3,
        LogLevel.Information,
        "Executor: process; workers are local processes, at most {MaxConcurrent} executions at once")]
    private static partial void LogExecutor(ILogger logger, int maxConcurrent);

    [LoggerMessage(4, LogLevel.Information, "At most {MaxConcurrent} executions run at once")]
    private static partial void LogConcurrency(ILogger logger, int maxConcurrent);

    [LoggerMessage(
        7,
        LogLevel.Information,
        "Limits: code up to {MaxCodeMb} MB; memory {DefaultMemoryMb} MB and timeout {DefaultTimeoutSecs} s unless a "
            + "function sets them, timeouts up to {MaxTimeoutSecs} s; network {Network} by default; executions kept "
            + "{RetentionDays} days")]
    private static partial void LogLimits(
        ILogger logger,
        int maxCodeMb,
        int defaultMemoryMb,
        int defaultTimeoutSecs,
        int maxTimeoutSecs,
        string network,
        int retentionDays);

    [LoggerMessage(5, LogLevel.Information, "Authentication: on; /api routes need the API key")]
    private static partial void LogAuthOn(ILogger logger);

    [LoggerMessage(
        6,
        LogLevel.Warning,
        "Authentication: off (ENABLE_AUTH=false); anyone who can reach the server can deploy and run code")]
    private static partial void LogAuthOff(ILogger logger);

    [LoggerMessage(
        8,
        LogLevel.Warning,
        "Authentication: off; API_KEY is set but ignored, because ENABLE_AUTH=false: anyone who can reach the server "
            + "can deploy and run code. Set ENABLE_AUTH=true to require the key")]
    private static partial void LogAuthOffKeyIgnored(ILogger logger);
}
