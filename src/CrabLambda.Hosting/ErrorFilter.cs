using CrabLambda.Functions;
using CrabLambda.Runtimes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Hosting;

/// <summary>
/// Turns the function client's exceptions into problem responses, so the routes only describe the success path.
/// </summary>
/// <param name="logger">Where unexpected failures are logged with their exception.</param>
internal sealed partial class ErrorFilter(ILogger logger) : IEndpointFilter
{
    // A client that sends a request and gives up may retry at once; one second keeps it from hammering.
    private const string RetryAfterSeconds = "1";

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
        catch (BadHttpRequestException exception)
        {
            return Problems.FromBadRequest(exception);
        }
        catch (OperationCanceledException) when (httpContext.RequestAborted.IsCancellationRequested)
        {
            return TypedResults.StatusCode(ClientClosedRequest);
        }
        catch (Exception exception)
        {
            LogUnexpectedFailure(logger, exception, httpContext.Request.Method, httpContext.Request.Path.Value ?? "");
            return Problems.Unexpected();
        }
    }

    [LoggerMessage(
        EventId = 1,
        EventName = "UnexpectedFailure",
        Level = LogLevel.Error,
        Message = "Unexpected failure while handling {Method} {Path}")]
    private static partial void LogUnexpectedFailure(ILogger logger, Exception exception, string method, string path);
}
