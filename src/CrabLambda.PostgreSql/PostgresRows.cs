using CrabLambda.Execution;
using CrabLambda.Functions;
using ExecutionRecord = CrabLambda.Execution.Execution;

namespace CrabLambda.PostgreSql;

/// <summary>
/// Converts between the records and the values Npgsql reads and writes: <c>TIMESTAMPTZ</c> as UTC
/// <see cref="DateTime"/>, which is the only form Npgsql accepts for it.
/// </summary>
internal static class PostgresValues
{
    public static DateTime FromTime(DateTimeOffset time) => time.UtcDateTime;

    public static DateTimeOffset ToTime(DateTime time) =>
        new(DateTime.SpecifyKind(time, DateTimeKind.Utc), TimeSpan.Zero);

    public static ExecutionStatus ToStatus(string name) => ExecutionStatusNames.TryParse(name, out var status)
        ? status
        : throw new InvalidOperationException($"The database holds an unknown execution status '{name}'.");
}

/// <summary>A <c>functions</c> row, as Dapper binds and reads it.</summary>
internal sealed class PostgresFunctionRow
{
    public Guid Id { get; set; }

    public string Name { get; set; } = "";

    public string Runtime { get; set; } = "";

    public string Handler { get; set; } = "";

    public int MemoryMb { get; set; }

    public int TimeoutSecs { get; set; }

    public bool Network { get; set; }

    public int CurrentVersion { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }

    public static PostgresFunctionRow From(Function function) => new()
    {
        Id = function.Id,
        Name = function.Name,
        Runtime = function.Runtime,
        Handler = function.Handler,
        MemoryMb = function.MemoryMb,
        TimeoutSecs = function.TimeoutSecs,
        Network = function.Network,
        CurrentVersion = function.CurrentVersion,
        CreatedAt = PostgresValues.FromTime(function.CreatedAt),
        UpdatedAt = PostgresValues.FromTime(function.UpdatedAt),
    };

    public Function ToFunction() => new(
        Id,
        Name,
        Runtime,
        Handler,
        MemoryMb,
        TimeoutSecs,
        Network,
        CurrentVersion,
        PostgresValues.ToTime(CreatedAt),
        PostgresValues.ToTime(UpdatedAt));
}

/// <summary>A <c>function_versions</c> row, as Dapper binds and reads it.</summary>
internal sealed class PostgresVersionRow
{
    public Guid FunctionId { get; set; }

    public int Version { get; set; }

    public string Code { get; set; } = "";

    public string CodeHash { get; set; } = "";

    public string Runtime { get; set; } = "";

    public string Handler { get; set; } = "";

    public int MemoryMb { get; set; }

    public int TimeoutSecs { get; set; }

    public bool Network { get; set; }

    public DateTime DeployedAt { get; set; }

    public static PostgresVersionRow From(FunctionVersion version) => new()
    {
        FunctionId = version.FunctionId,
        Version = version.Version,
        Code = version.Code,
        CodeHash = version.CodeHash,
        Runtime = version.Runtime,
        Handler = version.Handler,
        MemoryMb = version.MemoryMb,
        TimeoutSecs = version.TimeoutSecs,
        Network = version.Network,
        DeployedAt = PostgresValues.FromTime(version.DeployedAt),
    };

    public FunctionVersion ToVersion() => new(
        FunctionId,
        Version,
        Code,
        CodeHash,
        Runtime,
        Handler,
        MemoryMb,
        TimeoutSecs,
        Network,
        PostgresValues.ToTime(DeployedAt));
}

/// <summary>An <c>executions</c> row, as Dapper reads it.</summary>
internal sealed class PostgresExecutionRow
{
    public Guid Id { get; set; }

    public Guid FunctionId { get; set; }

    public string FunctionName { get; set; } = "";

    public int Version { get; set; }

    public string Status { get; set; } = "";

    public string Input { get; set; } = "";

    public string? Output { get; set; }

    public string? Error { get; set; }

    public double DurationMs { get; set; }

    public double? MemoryUsedMb { get; set; }

    public DateTime ExecutedAt { get; set; }

    public ExecutionRecord ToExecution() => new(
        Id,
        FunctionId,
        FunctionName,
        Version,
        PostgresValues.ToStatus(Status),
        Input,
        Output,
        Error,
        DurationMs,
        MemoryUsedMb,
        PostgresValues.ToTime(ExecutedAt));
}

/// <summary>An <c>execution_logs</c> row, as Dapper reads it.</summary>
internal sealed class PostgresLogRow
{
    public Guid Id { get; set; }

    public Guid ExecutionId { get; set; }

    public int Sequence { get; set; }

    public string Level { get; set; } = "";

    public string Message { get; set; } = "";

    public DateTime Timestamp { get; set; }

    public ExecutionLogLine ToLogLine() => new(
        Id,
        ExecutionId,
        Sequence,
        Level,
        Message,
        PostgresValues.ToTime(Timestamp));
}

/// <summary>
/// A batch of executions as column arrays, written with one <c>INSERT … SELECT FROM unnest(…)</c> per table, so a
/// batch costs two round trips however large it is.
/// </summary>
internal sealed class PostgresExecutionBatch
{
    public Guid[] Ids { get; private init; } = [];

    public Guid[] FunctionIds { get; private init; } = [];

    public string[] FunctionNames { get; private init; } = [];

    public int[] Versions { get; private init; } = [];

    public string[] Statuses { get; private init; } = [];

    public string[] Inputs { get; private init; } = [];

    public string?[] Outputs { get; private init; } = [];

    public string?[] Errors { get; private init; } = [];

    public double[] DurationsMs { get; private init; } = [];

    public double?[] MemoryUsedMb { get; private init; } = [];

    public DateTime[] ExecutedAt { get; private init; } = [];

    public static PostgresExecutionBatch From(IReadOnlyList<ExecutionRecord> executions) => new()
    {
        Ids = [.. executions.Select(e => e.Id)],
        FunctionIds = [.. executions.Select(e => e.FunctionId)],
        FunctionNames = [.. executions.Select(e => PostgresText.Clean(e.FunctionName)!)],
        Versions = [.. executions.Select(e => e.Version)],
        Statuses = [.. executions.Select(e => e.Status.ToName())],
        Inputs = [.. executions.Select(e => PostgresText.CleanJson(e.Input)!)],
        Outputs = [.. executions.Select(e => PostgresText.CleanJson(e.Output))],
        Errors = [.. executions.Select(e => PostgresText.Clean(e.Error))],
        DurationsMs = [.. executions.Select(e => e.DurationMs)],
        MemoryUsedMb = [.. executions.Select(e => e.MemoryUsedMb)],
        ExecutedAt = [.. executions.Select(e => PostgresValues.FromTime(e.ExecutedAt))],
    };
}

/// <summary>The log lines of a batch of executions as column arrays, for one <c>unnest</c> insert.</summary>
internal sealed class PostgresLogBatch
{
    public Guid[] Ids { get; private init; } = [];

    public Guid[] ExecutionIds { get; private init; } = [];

    public int[] Sequences { get; private init; } = [];

    public string[] Levels { get; private init; } = [];

    public string[] Messages { get; private init; } = [];

    public DateTime[] Timestamps { get; private init; } = [];

    public int Count => Ids.Length;

    public static PostgresLogBatch From(IReadOnlyList<ExecutionLogLine> lines) => new()
    {
        Ids = [.. lines.Select(l => l.Id)],
        ExecutionIds = [.. lines.Select(l => l.ExecutionId)],
        Sequences = [.. lines.Select(l => l.Sequence)],
        Levels = [.. lines.Select(l => PostgresText.Clean(l.Level)!)],
        Messages = [.. lines.Select(l => PostgresText.Clean(l.Message)!)],
        Timestamps = [.. lines.Select(l => PostgresValues.FromTime(l.Timestamp))],
    };
}
