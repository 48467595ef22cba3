using System.Text.Json;
using CrabLambda;
using CrabLambda.Execution;
using CrabLambda.Functions;

namespace EmbeddedApp;

/// <summary>
/// An existing ASP.NET Core app, with its own routes and its own authentication, that also runs functions: the
/// CrabLambda REST API sits under <c>/faas</c> behind the app's authorisation, and the app's own code calls functions
/// through <see cref="IFunctionClient"/> without HTTP.
/// </summary>
public static class EmbeddedAppHost
{
    /// <summary>The path the CrabLambda REST API sits under.</summary>
    public const string FaasPrefix = "/faas";

    /// <summary>
    /// Builds the app. Configuration: <c>App:Token</c> (required; the bearer token of the app's one user),
    /// <c>App:Database</c> (the SQLite file, default <c>embedded-app.db</c> in the working directory) and the
    /// <c>CrabLambda</c> section, bound to <see cref="CrabLambdaOptions"/>.
    /// </summary>
    /// <param name="args">Command-line arguments, for example <c>--urls http://127.0.0.1:5000</c>.</param>
    /// <param name="configure">Changes to the app before it is built, for example a test's logging.</param>
    /// <exception cref="InvalidOperationException"><c>App:Token</c> is not set.</exception>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        var token = builder.Configuration["App:Token"];
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new InvalidOperationException(
                "Set App:Token, the bearer token that guards /faas: for example App__Token=a-long-secret in the "
                    + "environment, or --App:Token=a-long-secret on the command line.");
        }

        // The app's own authentication and authorisation; CrabLambda's routes obey them like any other route.
        builder.Services
            .AddAuthentication(TokenAuthenticationHandler.SchemeName)
            .AddScheme<TokenAuthenticationOptions, TokenAuthenticationHandler>(
                TokenAuthenticationHandler.SchemeName,
                options => options.Token = token);
        builder.Services.AddAuthorization();

        // CrabLambda with the store of the app's choice and a plug-in runtime next to the built-in ones. Settings in
        // the CrabLambda section of the configuration override the defaults set here.
        builder.Services
            .AddCrabLambda(options => options.MaxConcurrentExecutions = 16)
            .AddSqlite(builder.Configuration["App:Database"] ?? "embedded-app.db")
            .AddRuby();
        builder.Services.Configure<CrabLambdaOptions>(builder.Configuration.GetSection("CrabLambda"));

        // Registered after AddCrabLambda, so it starts once the store is migrated.
        builder.Services.AddHostedService<GreeterDeployment>();

        configure?.Invoke(builder);
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();

        // The app's own routes.
        app.MapGet("/", () => "An existing app that also runs functions under /faas.");
        app.MapGet("/greet/{name}", GreetAsync);

        // CrabLambda's REST API, behind the app's own authorisation.
        app.MapGroup(FaasPrefix).RequireAuthorization().MapCrabLambda();

        return app;
    }

    // One of the app's own endpoints runs a function through the typed client: no HTTP, no token, same records.
    private static async Task<IResult> GreetAsync(
        string name,
        IFunctionClient functions,
        CancellationToken cancellationToken)
    {
        var greeting = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["name"] = name });
        InvocationResult result;
        try
        {
            result = await functions.InvokeAsync(
                GreeterDeployment.FunctionName,
                greeting,
                cancellationToken: cancellationToken);
        }
        catch (NotFoundException exception)
        {
            // Someone deleted the greeter under /faas. That is theirs to decide, so it stays deleted until the app
            // starts again and deploys it.
            return Results.Problem(
                title: "The greeter is not deployed",
                detail: exception.Message + " The app deploys it when it starts: restart the app to have it back.",
                statusCode: StatusCodes.Status404NotFound);
        }

        return result.Status == ExecutionStatus.Success
            ? Results.Text(result.Output, "application/json")
            : Results.Problem(
                title: $"The greeter ended with status {result.Status.ToName()}.",
                detail: result.Error,
                statusCode: StatusCodes.Status502BadGateway);
    }
}
