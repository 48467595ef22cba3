using System.Data.Common;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Hosting;

/// <summary>
/// Turns the function client's exceptions into problem responses, so the routes only describe the success path.
/// </summary>
/// <param name="logger">
/// Where unexpected failures are logged with their exception, and a store that cannot serve for now as a warning.
/// </param>
internal sealed partial class ErrorFilter(ILogger logger) : IEndpointFilter
{
    // A client that sends a request and gives up may retry at once; one second keeps it from hammering.
    private const string RetryAfterSeconds = "1";

    // A database that went away takes longer to come back than a queue takes to drain: a restart, a failover.
    private const string StorageRetryAfterSeconds = "5";

    // Not an HTTP status the server sends: the client closed the connection and will never read the answer.
    private const int ClientClosedRequest = 499;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var httpContext = context.HttpContext;
        try
        {
            return await next(context);
        }
        catch (FunctionValidationException exception)
        {
            return Problems.Invalid(exception.Errors.ToDictionary(e => e.Key, e => e.Value));
        }
        catch (NotFoundException exception)
        {
            return Problems.NotFound(exception.Message);
        }
        catch (FunctionConflictException exception)
        {
            return Problems.Conflict(exception.Message);
        }
        catch (CodeTooLargeException exception)
        {
            return Problems.CodeTooLarge(exception.Message);
        }
        catch (FunctionCodeException exception)
        {
            return Problems.CodeCannotRun(exception.Message);
        }
        catch (RuntimeUnavailableException exception)
        {
            return Problems.RuntimeUnavailable(exception.Message);
        }
        catch (ExecutionRejectedException exception)
        {
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds;
            return Problems.TooManyExecutions(exception.Message);
        }
        catch (ServerStoppingException exception)
        {
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds;
            return Problems.ServerStopping(exception.Message);
        }
        catch (BadHttpRequestException exception)
        {
            return Problems.FromBadRequest(exception);
        }
        catch (OperationCanceledException) when (httpContext.RequestAborted.IsCancellationRequested)
        {
            return TypedResults.StatusCode(ClientClosedRequest);
        }
        catch (ExecutionNotRecordedException exception)
        {
            // The recorder has logged the lost execution with its exception; this is the answer's side of it.
            if (StorageFailures.FindTransient(exception) is { } unavailable)
            {
                var problem = Problems.ExecutionNotRecorded(storageUnavailable: true);
                return StorageUnavailable(httpContext, unavailable, problem);
            }

            LogUnexpectedFailure(logger, exception, httpContext.Request.Method, PathOf(httpContext));
            return Problems.ExecutionNotRecorded(storageUnavailable: false);
        }
        catch (Exception exception) when (StorageFailures.FindTransient(exception) is { } unavailable)
        {
            return StorageUnavailable(httpContext, unavailable, Problems.StorageUnavailable());
        }
        catch (Exception exception)
        {
            LogUnexpectedFailure(logger, exception, httpContext.Request.Method, PathOf(httpContext));
            return Problems.Unexpected();
        }
    }

    private static string PathOf(HttpContext httpContext) => httpContext.Request.Path.Value ?? "";

    // Logged without the exception: an outage fails every request alike, and its stack trace says nothing new.
    private ProblemHttpResult StorageUnavailable(
        HttpContext httpContext,
        DbException failure,
        ProblemHttpResult problem)
    {
        LogStorageUnavailable(logger, httpContext.Request.Method, PathOf(httpContext), failure.Message);
        httpContext.Response.Headers.RetryAfter = StorageRetryAfterSeconds;
        return problem;
    }

    [LoggerMessage(
        EventId = 1,
        EventName = "UnexpectedFailure",
        Level = LogLevel.Error,
        Message = "Unexpected failure while handling {Method} {Path}")]
    private static partial void LogUnexpectedFailure(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(
        EventId = 2,
        EventName = "StorageUnavailable",
        Level = LogLevel.Warning,
        Message = "Storage unavailable while handling {Method} {Path}, answered 503: {Reason}")]
    private static partial void LogStorageUnavailable(ILogger logger, string method, string path, string reason);
}
