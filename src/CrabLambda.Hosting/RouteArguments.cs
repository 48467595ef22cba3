using System.Globalization;
using CrabLambda.Execution;
using Microsoft.AspNetCore.Http;

namespace CrabLambda.Hosting;

/// <summary>
/// Parses route and query values, answering a bad one with a 400 that names it rather than a 404 or a 500.
/// </summary>
internal static class RouteArguments
{
    public const int MaxFunctionsPerPage = 100;
    public const int MaxExecutionsPerPage = 1000;
    public const int DefaultFunctionsPerPage = 10;
    public const int DefaultExecutionsPerPage = 50;

    public static bool TryParseVersion(string value, out int version, out IResult? problem)
    {
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out version) && version >= 1)
        {
            problem = null;
            return true;
        }

        problem = Problems.Invalid(
            "version",
            $"The version '{value}' is not a version number: use 1, 2, 3 … as listed by GET …/versions.");
        return false;
    }

    public static bool TryParseExecutionId(string value, out Guid id, out IResult? problem)
    {
        if (Guid.TryParse(value, out id))
        {
            problem = null;
            return true;
        }

        problem = Problems.Invalid(
            "id",
            $"The execution id '{value}' is not a UUID: use the execution_id an invocation returned.");
        return false;
    }

    public static bool TryParseBefore(string? value, out Guid? before, out IResult? problem)
    {
        problem = null;
        before = null;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        if (Guid.TryParse(value, out var id))
        {
            before = id;
            return true;
        }

        problem = Problems.Invalid(
            "before",
            $"before '{value}' is not a UUID: use the execution_id of the last execution of the page before.");
        return false;
    }

    public static bool TryParseLimit(string? value, int fallback, int max, out int limit, out IResult? problem) =>
        TryParseNumber("limit", value, fallback, max, out limit, out problem);

    public static bool TryParsePage(string? value, out int page, out IResult? problem) =>
        TryParseNumber("page", value, 1, int.MaxValue, out page, out problem);

    public static bool TryParseStatus(string? value, out ExecutionStatus? status, out IResult? problem)
    {
        problem = null;
        status = null;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        if (ExecutionStatusNames.TryParse(value.ToLowerInvariant(), out var parsed))
        {
            status = parsed;
            return true;
        }

        problem = Problems.Invalid(
            "status",
            $"The status '{value}' is not valid: use success, error, timeout or oom.");
        return false;
    }

    private static bool TryParseNumber(
        string field,
        string? value,
        int fallback,
        int max,
        out int number,
        out IResult? problem)
    {
        problem = null;
        if (string.IsNullOrEmpty(value))
        {
            number = fallback;
            return true;
        }

        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out number)
            && number >= 1
            && number <= max)
        {
            return true;
        }

        problem = Problems.Invalid(field, $"The {field} '{value}' is not valid: use a whole number from 1 to {max}.");
        return false;
    }
}
