using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CrabLambda.Hosting;

/// <summary>
/// The RFC 9457 problem responses of the API, each with a title and a detail a person can act on.
/// </summary>
internal static class Problems
{
    public static ProblemHttpResult BadRequest(string title, string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: title);

    public static ValidationProblem Invalid(string field, string message, string? title = null) =>
        Invalid(new Dictionary<string, string[]> { [field] = [message] }, title);

    public static ValidationProblem Invalid(IDictionary<string, string[]> errors, string? title = null)
    {
        var detail = string.Join(" ", errors.SelectMany(e => e.Value));
        return TypedResults.ValidationProblem(errors, detail, title: title ?? "The request is invalid");
    }

    public static ProblemHttpResult InvalidJson(string reason) => BadRequest(
        "The request body is not valid JSON",
        $"Send a JSON document as the body. {reason}");

    public static ProblemHttpResult BodyTooLarge(long limit, string what) => TypedResults.Problem(
        $"The request body is larger than the {DescribeBytes(limit)} {what} may be. Send a smaller body.",
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "The request body is too large");

    public static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(
        detail,
        statusCode: StatusCodes.Status404NotFound,
        title: "Not found");

    public static ProblemHttpResult Conflict(string detail) => TypedResults.Problem(
        detail + " Choose another name, or change the existing function with PUT.",
        statusCode: StatusCodes.Status409Conflict,
        title: "The name is taken");

    public static ProblemHttpResult CodeTooLarge(string detail) => TypedResults.Problem(
        detail,
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "The code is too large");

    public static ProblemHttpResult CodeCannotRun(string detail) => TypedResults.Problem(
        detail,
        statusCode: StatusCodes.Status422UnprocessableEntity,
        title: "The code cannot run");

    public static ProblemHttpResult RuntimeUnavailable(string detail) => TypedResults.Problem(
        detail,
        statusCode: StatusCodes.Status503ServiceUnavailable,
        title: "Runtime unavailable");

    public static ProblemHttpResult TooManyExecutions(string detail) => TypedResults.Problem(
        detail + " Retry after a moment.",
        statusCode: StatusCodes.Status429TooManyRequests,
        title: "Too many executions",
        type: TypeOf(StatusCodes.Status429TooManyRequests));

    public static ProblemHttpResult ServerStopping(string detail) => TypedResults.Problem(
        detail,
        statusCode: StatusCodes.Status503ServiceUnavailable,
        title: "Server shutting down");

    public static ProblemHttpResult StorageUnavailable() => TypedResults.Problem(
        "The request could not be completed: the database that holds functions and executions cannot be reached or "
            + "is busy. Retry after a moment.",
        statusCode: StatusCodes.Status503ServiceUnavailable,
        title: "Storage unavailable");

    public static ProblemHttpResult ExecutionNotRecorded(bool storageUnavailable) => storageUnavailable
        ? TypedResults.Problem(
            "The function ran, but its execution could not be recorded: the database that holds executions cannot "
                + "be reached or is busy. No result is given for an execution that is not recorded. Retry after a "
                + "moment; a retry runs the function again.",
            statusCode: StatusCodes.Status503ServiceUnavailable,
            title: "Storage unavailable")
        : TypedResults.Problem(
            "The function ran, but its execution could not be recorded; the failure is in the server's log. No "
                + "result is given for an execution that is not recorded. A retry runs the function again.",
            statusCode: StatusCodes.Status500InternalServerError,
            title: "The execution could not be recorded");

    public static ProblemHttpResult Unexpected() => TypedResults.Problem(
        "The server failed while handling the request; the failure is in its log. Retry, and if it persists, "
            + "report it with the time of the request.",
        statusCode: StatusCodes.Status500InternalServerError,
        title: "Unexpected server error");

    public static ProblemHttpResult FromBadRequest(BadHttpRequestException exception) => TypedResults.Problem(
        exception.Message,
        statusCode: exception.StatusCode,
        title: exception.StatusCode == StatusCodes.Status413PayloadTooLarge
            ? "The request body is too large"
            : "The request could not be read",
        type: TypeOf(exception.StatusCode));

    // ASP.NET Core gives a problem of an RFC 9110 status a link to that status's section, and none to the statuses
    // RFC 6585 added; those get a link of the same kind, so that every problem has a type.
    private static string? TypeOf(int status) => status switch
    {
        StatusCodes.Status429TooManyRequests => "https://tools.ietf.org/html/rfc6585#section-4",
        StatusCodes.Status431RequestHeaderFieldsTooLarge => "https://tools.ietf.org/html/rfc6585#section-5",
        _ => null,
    };

    private static string DescribeBytes(long bytes) =>
        bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB" : $"{bytes} bytes";
}
