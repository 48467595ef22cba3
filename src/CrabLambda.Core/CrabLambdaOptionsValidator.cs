using Microsoft.Extensions.Options;

namespace CrabLambda;

/// <summary>
/// Checks <see cref="CrabLambdaOptions"/> at start-up so that a bad setting stops the host with its name.
/// </summary>
internal sealed class CrabLambdaOptionsValidator : IValidateOptions<CrabLambdaOptions>
{
    public const int MaxMemoryMb = CrabLambdaOptions.MaxMemoryMb;
    public const int TimeoutCeilingSecs = 900;
    public const int MaxPrestartedWorkers = 16;
    public const int MaxLogLines = 1_000_000;

    public ValidateOptionsResult Validate(string? name, CrabLambdaOptions options)
    {
        var failures = new List<string>();

        void Require(bool condition, string message)
        {
            if (!condition)
            {
                failures.Add(message);
            }
        }

        Require(options.MaxFunctionSizeMb >= 1, "MaxFunctionSizeMb must be at least 1.");
        Require(
            options.DefaultMemoryMb is >= 1 and <= MaxMemoryMb,
            $"DefaultMemoryMb must be between 1 and {MaxMemoryMb}.");
        Require(
            options.MaxTimeoutSecs is >= 1 and <= TimeoutCeilingSecs,
            $"MaxTimeoutSecs must be between 1 and {TimeoutCeilingSecs}.");
        Require(
            options.DefaultTimeoutSecs >= 1 && options.DefaultTimeoutSecs <= options.MaxTimeoutSecs,
            "DefaultTimeoutSecs must be between 1 and MaxTimeoutSecs.");
        Require(options.MaxConcurrentExecutions >= 1, "MaxConcurrentExecutions must be at least 1.");
        Require(options.MaxQueuedExecutions >= 0, "MaxQueuedExecutions must not be negative.");
        Require(options.ExecutionLogRetentionDays >= 1, "ExecutionLogRetentionDays must be at least 1.");
        Require(options.WorkerKeepAlive > TimeSpan.Zero, "WorkerKeepAlive must be positive.");
        Require(options.MaxIdleWorkers >= 0, "MaxIdleWorkers must not be negative.");
        Require(options.ShutdownGrace >= TimeSpan.Zero, "ShutdownGrace must not be negative.");
        Require(
            options.PrestartedWorkersPerRuntime is >= 0 and <= MaxPrestartedWorkers,
            $"PrestartedWorkersPerRuntime must be between 0 and {MaxPrestartedWorkers}.");
        Require(options.MaxOutputMb >= 1, "MaxOutputMb must be at least 1.");
        Require(options.MaxEventMb >= 1, "MaxEventMb must be at least 1.");
        Require(options.MaxProcessesPerWorker >= 8, "MaxProcessesPerWorker must be at least 8.");
        Require(Enum.IsDefined(options.Isolation), "Isolation must be Auto, Sandbox or None.");
        Require(options.MaxLogKbPerExecution >= 1, "MaxLogKbPerExecution must be at least 1.");
        Require(
            options.MaxLogLinesPerExecution is >= 1 and <= MaxLogLines,
            $"MaxLogLinesPerExecution must be between 1 and {MaxLogLines}.");

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
