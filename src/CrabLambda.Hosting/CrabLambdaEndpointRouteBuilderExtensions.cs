using CrabLambda.Functions;
using CrabLambda.Hosting;
using CrabLambda.Hosting.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// Maps the CrabLambda REST API onto an ASP.NET Core application.
/// </summary>
public static class CrabLambdaEndpointRouteBuilderExtensions
{
    private const string JsonContentType = "application/json";

    // Bodies are read as JSON whatever their Content-Type; declaring only application/json would make routing
    // answer 415 to `curl -d`, which sends application/x-www-form-urlencoded.
    private const string AnyContentType = "*/*";
    private const string Tag = "CrabLambda";

    /// <summary>
    /// Maps every CrabLambda route (deploy, invoke, versions, rollback, executions, logs) under
    /// <paramref name="prefix"/>. Requires <c>services.AddCrabLambda()</c> with a store.
    /// </summary>
    /// <remarks>
    /// Map the routes once per application: their endpoint names (used as OpenAPI operation ids) are unique.
    /// The returned group lets the host add authorisation, rate limits or OpenAPI metadata to every route, and the
    /// routes work inside a group of the host's, for example
    /// <c>app.MapGroup("/faas").RequireAuthorization().MapCrabLambda()</c>.
    /// </remarks>
    /// <param name="endpoints">The application or a route group.</param>
    /// <param name="prefix">The path the routes sit under, for example <c>/api</c>; empty for none.</param>
    /// <returns>The route group holding the CrabLambda routes.</returns>
    public static RouteGroupBuilder MapCrabLambda(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);

        var isService = endpoints.ServiceProvider.GetService<IServiceProviderIsService>();
        if (isService is not null && !isService.IsService(typeof(IFunctionClient)))
        {
            throw new InvalidOperationException(
                "MapCrabLambda needs the CrabLambda services: call builder.Services.AddCrabLambda() with a store, "
                    + "for example .AddSqlite(\"crablambda.db\"), before building the application.");
        }

        var logger = endpoints.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("CrabLambda.Hosting");
        var group = endpoints.MapGroup(prefix);
        group.AddEndpointFilter(new ErrorFilter(logger));
        group.WithTags(Tag);

        // Any route answers 503 while the database cannot be reached or is busy.
        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        MapFunctionRoutes(group);
        MapInvocationRoutes(group);

        return group;
    }

    private static void MapFunctionRoutes(RouteGroupBuilder group)
    {
        group.MapPost("/functions", FunctionEndpoints.CreateAsync)
            .WithName("CreateFunction")
            .WithSummary("Create a function")
            .WithDescription(
                "Deploys a function; its first version is 1. The body is read as JSON whatever its Content-Type.")
            .Accepts<CreateFunctionRequest>(JsonContentType, AnyContentType)
            .Produces<FunctionResponse>(StatusCodes.Status201Created)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        group.MapGet("/functions", FunctionEndpoints.ListAsync)
            .WithName("ListFunctions")
            .WithSummary("List functions")
            .WithDescription("Lists functions by name, a page at a time: page from 1, limit 1–100 (default 10).")
            .Produces<ListResponse<FunctionResponse>>()
            .ProducesValidationProblem();

        group.MapGet("/functions/{name}", FunctionEndpoints.GetAsync)
            .WithName("GetFunction")
            .WithSummary("Get a function")
            .WithDescription("Returns a function with the configuration of its current version.")
            .Produces<FunctionResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPut("/functions/{name}", FunctionEndpoints.UpdateAsync)
            .WithName("UpdateFunction")
            .WithSummary("Change a function")
            .WithDescription(
                "Changes any of code, handler, memory_mb, timeout_secs and network. A real change makes a new "
                    + "version and makes it current; a change that alters nothing makes no version.")
            .Accepts<UpdateFunctionRequest>(JsonContentType, AnyContentType)
            .Produces<FunctionResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        group.MapDelete("/functions/{name}", FunctionEndpoints.DeleteAsync)
            .WithName("DeleteFunction")
            .WithSummary("Delete a function")
            .WithDescription("Deletes a function with its versions, executions and logs, and stops its workers.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/functions/{name}/versions", FunctionEndpoints.ListVersionsAsync)
            .WithName("ListFunctionVersions")
            .WithSummary("List a function's versions")
            .WithDescription("Lists every version, newest first, without their code.")
            .Produces<VersionSummaryResponse[]>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/functions/{name}/versions/{version}", FunctionEndpoints.GetVersionAsync)
            .WithName("GetFunctionVersion")
            .WithSummary("Get a version")
            .WithDescription("Returns one version, with its code. The version is a number: 1, 2, 3 …")
            .Produces<VersionResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPost("/functions/{name}/rollback/{version}", FunctionEndpoints.RollbackAsync)
            .WithName("RollbackFunction")
            .WithSummary("Roll back a function")
            .WithDescription("Makes an earlier version current again. The version is a number: 1, 2, 3 …")
            .Produces<FunctionResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    private static void MapInvocationRoutes(RouteGroupBuilder group)
    {
        group.MapPost("/functions/{name}/invoke", InvocationEndpoints.InvokeCurrentAsync)
            .WithName("InvokeFunction")
            .WithSummary("Invoke a function")
            .WithDescription(
                "Runs the current version with the body as its event (any JSON value; an empty body is {}). "
                    + "Answers 200 whenever an execution was recorded; its status says how the function did.")
            .Accepts<RawJson>(isOptional: true, JsonContentType, AnyContentType)
            .Produces<InvocationResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapPost("/functions/{name}/versions/{version}/invoke", InvocationEndpoints.InvokeVersionAsync)
            .WithName("InvokeFunctionVersion")
            .WithSummary("Invoke a version")
            .WithDescription(
                "Runs that exact version with the body as its event. Answers 200 whenever an execution was "
                    + "recorded; its status says how the function did.")
            .Accepts<RawJson>(isOptional: true, JsonContentType, AnyContentType)
            .Produces<InvocationResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapGet("/functions/{name}/executions", InvocationEndpoints.ListExecutionsAsync)
            .WithName("ListFunctionExecutions")
            .WithSummary("List a function's executions")
            .WithDescription(
                "Lists executions newest first; status filters by success, error, timeout or oom; "
                    + "limit 1–1000 (default 50).")
            .Produces<ExecutionResponse[]>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/executions/{id}", InvocationEndpoints.GetExecutionAsync)
            .WithName("GetExecution")
            .WithSummary("Get an execution")
            .WithDescription("Returns one execution record; id is the execution_id an invocation returned.")
            .Produces<ExecutionResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/executions/{id}/logs", InvocationEndpoints.GetLogsAsync)
            .WithName("GetExecutionLogs")
            .WithSummary("Get an execution's logs")
            .WithDescription("Returns the lines the function wrote, in order: stdout as info, stderr as error.")
            .Produces<LogLineResponse[]>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
