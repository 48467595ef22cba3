using System.Globalization;
using CrabLambda.Execution;
using CrabLambda.Functions;
using ExecutionRecord = CrabLambda.Execution.Execution;

namespace CrabLambda.Storage.Sqlite;

/// <summary>
/// Converts between the records and SQLite's representation: ids as lowercase UUID text, which sorts version 7 ids
/// by time, and timestamps as UTC ISO 8601 text with microseconds, which sorts as text.
/// </summary>
internal static class SqliteValues
{
    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    public static string FromId(Guid id) => id.ToString("D");

    public static Guid ToId(string text) => Guid.ParseExact(text, "D");

    public static string FromTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    public static DateTimeOffset ToTime(string text) => DateTimeOffset.ParseExact(
        text,
        TimestampFormat,
        CultureInfo.InvariantCulture,
        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    public static ExecutionStatus ToStatus(string name) => ExecutionStatusNames.TryParse(name, out var status)
        ? status
        : throw new InvalidOperationException($"The database holds an unknown execution status '{name}'.");
}

/// <summary>A <c>functions</c> row, as Dapper binds and reads it.</summary>
internal sealed class SqliteFunctionRow
{
    public string Id { get; set; } = "";

    public string Name { get; set; } = "";

    public string Runtime { get; set; } = "";

    public string Handler { get; set; } = "";

    public int MemoryMb { get; set; }

    public int TimeoutSecs { get; set; }

    public bool Network { get; set; }

    public int CurrentVersion { get; set; }

    public string CreatedAt { get; set; } = "";

    public string UpdatedAt { get; set; } = "";

    public static SqliteFunctionRow From(Function function) => new()
    {
        Id = SqliteValues.FromId(function.Id),
        Name = function.Name,
        Runtime = function.Runtime,
        Handler = function.Handler,
        MemoryMb = function.MemoryMb,
        TimeoutSecs = function.TimeoutSecs,
        Network = function.Network,
        CurrentVersion = function.CurrentVersion,
        CreatedAt = SqliteValues.FromTime(function.CreatedAt),
        UpdatedAt = SqliteValues.FromTime(function.UpdatedAt),
    };

    public Function ToFunction() => new(
        SqliteValues.ToId(Id),
        Name,
        Runtime,
        Handler,
        MemoryMb,
        TimeoutSecs,
        Network,
        CurrentVersion,
        SqliteValues.ToTime(CreatedAt),
        SqliteValues.ToTime(UpdatedAt));
}

/// <summary>A <c>function_versions</c> row, as Dapper binds and reads it.</summary>
internal sealed class SqliteVersionRow
{
    public string FunctionId { get; set; } = "";

    public int Version { get; set; }

    public string Code { get; set; } = "";

    public string CodeHash { get; set; } = "";

    public string Runtime { get; set; } = "";

    public string Handler { get; set; } = "";

    public int MemoryMb { get; set; }

    public int TimeoutSecs { get; set; }

    public bool Network { get; set; }

    public string DeployedAt { get; set; } = "";

    public static SqliteVersionRow From(FunctionVersion version) => new()
    {
        FunctionId = SqliteValues.FromId(version.FunctionId),
        Version = version.Version,
        Code = version.Code,
        CodeHash = version.CodeHash,
        Runtime = version.Runtime,
        Handler = version.Handler,
        MemoryMb = version.MemoryMb,
        TimeoutSecs = version.TimeoutSecs,
        Network = version.Network,
        DeployedAt = SqliteValues.FromTime(version.DeployedAt),
    };

    public FunctionVersion ToVersion() => new(
        SqliteValues.ToId(FunctionId),
        Version,
        Code,
        CodeHash,
        Runtime,
        Handler,
        MemoryMb,
        TimeoutSecs,
        Network,
        SqliteValues.ToTime(DeployedAt));
}

/// <summary>An <c>executions</c> row, as Dapper binds and reads it.</summary>
internal sealed class SqliteExecutionRow
{
    public string Id { get; set; } = "";

    public string FunctionId { get; set; } = "";

    public string FunctionName { get; set; } = "";

    public int Version { get; set; }

    public string Status { get; set; } = "";

    public string Input { get; set; } = "";

    public string? Output { get; set; }

    public string? Error { get; set; }

    public double DurationMs { get; set; }

    public double? MemoryUsedMb { get; set; }

    public string ExecutedAt { get; set; } = "";

    public static SqliteExecutionRow From(ExecutionRecord execution) => new()
    {
        Id = SqliteValues.FromId(execution.Id),
        FunctionId = SqliteValues.FromId(execution.FunctionId),
        FunctionName = execution.FunctionName,
        Version = execution.Version,
        Status = execution.Status.ToName(),
        Input = execution.Input,
        Output = execution.Output,
        Error = execution.Error,
        DurationMs = execution.DurationMs,
        MemoryUsedMb = execution.MemoryUsedMb,
        ExecutedAt = SqliteValues.FromTime(execution.ExecutedAt),
    };

    public ExecutionRecord ToExecution() => new(
        SqliteValues.ToId(Id),
        SqliteValues.ToId(FunctionId),
        FunctionName,
        Version,
        SqliteValues.ToStatus(Status),
        Input,
        Output,
        Error,
        DurationMs,
        MemoryUsedMb,
        SqliteValues.ToTime(ExecutedAt));
}

/// <summary>An <c>execution_logs</c> row, as Dapper binds and reads it.</summary>
internal sealed class SqliteLogRow
{
    public string Id { get; set; } = "";

    public string ExecutionId { get; set; } = "";

    public int Sequence { get; set; }

    public string Level { get; set; } = "";

    public string Message { get; set; } = "";

    public string Timestamp { get; set; } = "";

    public static SqliteLogRow From(ExecutionLogLine line) => new()
    {
        Id = SqliteValues.FromId(line.Id),
        ExecutionId = SqliteValues.FromId(line.ExecutionId),
        Sequence = line.Sequence,
        Level = line.Level,
        Message = line.Message,
        Timestamp = SqliteValues.FromTime(line.Timestamp),
    };

    public ExecutionLogLine ToLogLine() => new(
        SqliteValues.ToId(Id),
        SqliteValues.ToId(ExecutionId),
        Sequence,
        Level,
        Message,
        SqliteValues.ToTime(Timestamp));
}
