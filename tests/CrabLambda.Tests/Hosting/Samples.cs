using CrabLambda.Execution;
using CrabLambda.Functions;
using ExecutionRecord = CrabLambda.Execution.Execution;

namespace CrabLambda.Tests.Hosting;

/// <summary>
/// Domain objects with distinct values in every field, so a test can tell which field landed where.
/// </summary>
internal static class Samples
{
    public static readonly DateTimeOffset Created = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
    public static readonly DateTimeOffset Updated = new(2025, 2, 3, 4, 5, 6, TimeSpan.Zero);
    public static readonly Guid FunctionId = Guid.Parse("0193a4b2-0000-7000-8000-000000000001");
    public static readonly Guid ExecutionId = Guid.Parse("0193a4b2-0000-7000-8000-000000000002");

    public static Function Function(string name = "hello") =>
        new(FunctionId, name, "python", "handler", 256, 15, true, 3, Created, Updated);

    public static FunctionVersion Version(int number = 2) =>
        new(FunctionId, number, "def handler(event):\n    return 1\n", new string('a', 64), "python", "handler", 256,
            15, false, Created);

    public static ExecutionRecord Execution(ExecutionStatus status = ExecutionStatus.Success) =>
        new(ExecutionId, FunctionId, "hello", 2, status, "{\"who\":[1,2]}", "\"Hello\"", null, 12.5, 7.25, Created);

    public static ExecutionLogLine LogLine(int sequence, string level, string message) =>
        new(Guid.CreateVersion7(), ExecutionId, sequence, level, message, Created.AddSeconds(sequence));
}
