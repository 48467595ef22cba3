using System.Runtime.CompilerServices;
using CrabLambda.Execution;
using CrabLambda.Functions;
using Dapper;
using DbUp;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using ExecutionRecord = CrabLambda.Execution.Execution;

namespace CrabLambda.Storage.Sqlite;

/// <summary>
/// Keeps functions, versions, executions and log lines in one SQLite file in WAL mode, so readers never wait for the
/// writer. Every write transaction starts with <c>BEGIN IMMEDIATE</c>: it takes SQLite's single write lock before it
/// reads, which makes version allocation atomic across connections and processes.
/// </summary>
/// <remarks>
/// With <c>synchronous=NORMAL</c> in WAL mode a committed transaction survives a crash of the process; a power loss
/// or an operating system crash may roll back the transactions committed since the last checkpoint, but never
/// corrupts the file.
/// </remarks>
internal sealed partial class SqliteFunctionStore : IFunctionStore, IDisposable
{
    /// <summary>How many executions a retention pass deletes per transaction.</summary>
    public const int DefaultDeleteBatchSize = 1000;

    private const string MigrationsPrefix = "CrabLambda.Storage.Sqlite.Migrations.";
    private const string JournalTable = "crablambda_migrations";
    private const int BusyTimeoutSecs = 30;
    private const int SqliteConstraintUnique = 2067;

    private const string FunctionColumns = """
        id AS Id, name AS Name, runtime AS Runtime, handler AS Handler, memory_mb AS MemoryMb,
        timeout_secs AS TimeoutSecs, network AS Network, current_version AS CurrentVersion,
        created_at AS CreatedAt, updated_at AS UpdatedAt
        """;

    private const string VersionColumns = """
        function_id AS FunctionId, version AS Version, code AS Code, code_hash AS CodeHash, runtime AS Runtime,
        handler AS Handler, memory_mb AS MemoryMb, timeout_secs AS TimeoutSecs, network AS Network,
        deployed_at AS DeployedAt
        """;

    private const string ExecutionColumns = """
        id AS Id, function_id AS FunctionId, function_name AS FunctionName, version AS Version, status AS Status,
        input AS Input, output AS Output, error AS Error, duration_ms AS DurationMs,
        memory_used_mb AS MemoryUsedMb, executed_at AS ExecutedAt
        """;

    private const string InsertVersionSql = """
        INSERT INTO function_versions
            (function_id, version, code, code_hash, runtime, handler, memory_mb, timeout_secs, network, deployed_at)
        VALUES
            (@FunctionId, @Version, @Code, @CodeHash, @Runtime, @Handler, @MemoryMb, @TimeoutSecs, @Network,
             @DeployedAt)
        """;

    private readonly string _path;
    private readonly string _connectionString;
    private readonly int _deleteBatchSize;
    private readonly ILogger _logger;

    /// <summary>Creates a store on the SQLite file at <paramref name="path"/>; nothing is opened until used.</summary>
    /// <param name="path">The database file; a relative path is taken from the current directory.</param>
    /// <param name="logger">Receives migration and retention messages.</param>
    /// <param name="deleteBatchSize">How many executions a retention pass deletes per transaction.</param>
    public SqliteFunctionStore(
        string path,
        ILogger<SqliteFunctionStore> logger,
        int deleteBatchSize = DefaultDeleteBatchSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentOutOfRangeException.ThrowIfLessThan(deleteBatchSize, 1);

        _path = Path.GetFullPath(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = BusyTimeoutSecs,
        }.ToString();
        _deleteBatchSize = deleteBatchSize;
        _logger = logger;
    }

    /// <inheritdoc />
    public Task MigrateAsync(CancellationToken cancellationToken) =>
        Task.Run(() => Migrate(cancellationToken), cancellationToken);

    private const string EnableWalSql = "PRAGMA journal_mode = WAL";

    private void Migrate(CancellationToken cancellationToken)
    {
        var folder = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }

        // The journal mode is stored in the file, so setting it once here holds for every later connection.
        using (var connection = new SqliteConnection(_connectionString))
        {
            connection.Open();
            var mode = connection.ExecuteScalar<string>(EnableWalSql);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                LogWalUnavailable(_path, mode);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();

        // NOTE: two processes migrating one new file at the same moment can both try the same script, and the second
        // then fails to start; started again, it finds the script applied.
        var applied = SchemaMigrations.Apply(
            DeployChanges.To.SqliteDatabase(_connectionString).JournalToSqliteTable(JournalTable),
            typeof(SqliteFunctionStore).Assembly,
            MigrationsPrefix,
            "SQLite",
            _logger);
        LogMigrated(_path, applied);
    }

    private const string PingSql = "SELECT 1";

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            return await connection.ExecuteScalarAsync<int>(Command(PingSql, null, null, cancellationToken)) == 1;
        }
        catch (SqliteException exception)
        {
            LogPingFailed(_path, exception);
            return false;
        }
    }

    private const string InsertFunctionSql = """
        INSERT INTO functions
            (id, name, runtime, handler, memory_mb, timeout_secs, network, current_version, created_at, updated_at)
        VALUES
            (@Id, @Name, @Runtime, @Handler, @MemoryMb, @TimeoutSecs, @Network, @CurrentVersion, @CreatedAt,
             @UpdatedAt)
        """;

    /// <inheritdoc />
    public async Task CreateFunctionAsync(
        Function function,
        FunctionVersion firstVersion,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(firstVersion);
        if (firstVersion.FunctionId != function.Id)
        {
            throw new ArgumentException("The first version must belong to the function.", nameof(firstVersion));
        }

        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);

        try
        {
            await connection.ExecuteAsync(
                Command(InsertFunctionSql, SqliteFunctionRow.From(function), transaction, cancellationToken));
        }
        catch (SqliteException exception) when (IsNameTaken(exception))
        {
            throw new FunctionConflictException(function.Name);
        }

        await connection.ExecuteAsync(
            Command(InsertVersionSql, SqliteVersionRow.From(firstVersion), transaction, cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    private const string SelectFunctionByNameSql = $"SELECT {FunctionColumns} FROM functions WHERE name = @Name";

    /// <inheritdoc />
    public async Task<Function?> GetFunctionAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);

        await using var connection = await OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<SqliteFunctionRow>(
            Command(SelectFunctionByNameSql, new { Name = name }, null, cancellationToken));
        return row?.ToFunction();
    }

    private const string SelectFunctionPageSql = $"""
        SELECT {FunctionColumns} FROM functions ORDER BY name LIMIT @Limit OFFSET @Offset
        """;

    private const string CountFunctionsSql = "SELECT COUNT(*) FROM functions";

    /// <inheritdoc />
    public async Task<ListPage<Function>> ListFunctionsAsync(int page, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(page, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        await using var connection = await OpenAsync(cancellationToken);

        // One read transaction, so the page and the total come from the same snapshot.
        await using var transaction = connection.BeginTransaction(deferred: true);
        var offset = (long)(page - 1) * limit;
        var rows = await connection.QueryAsync<SqliteFunctionRow>(
            Command(SelectFunctionPageSql, new { Limit = limit, Offset = offset }, transaction, cancellationToken));
        var total = await connection.ExecuteScalarAsync<long>(
            Command(CountFunctionsSql, null, transaction, cancellationToken));
        await transaction.CommitAsync(cancellationToken);

        return new ListPage<Function>([.. rows.Select(row => row.ToFunction())], page, limit, total);
    }

    private const string NextVersionSql = """
        SELECT COALESCE(MAX(v.version), 0) + 1
        FROM functions AS f LEFT JOIN function_versions AS v ON v.function_id = f.id
        WHERE f.id = @FunctionId AND f.current_version = @BasedOn
        GROUP BY f.id
        """;

    private const string MakeNewVersionCurrentSql = $"""
        UPDATE functions
        SET runtime = @Runtime, handler = @Handler, memory_mb = @MemoryMb, timeout_secs = @TimeoutSecs,
            network = @Network, current_version = @Version, updated_at = @DeployedAt
        WHERE id = @FunctionId
        RETURNING {FunctionColumns}
        """;

    /// <inheritdoc />
    public async Task<(Function Function, FunctionVersion Version)?> AddVersionAsync(
        Guid functionId,
        int basedOn,
        FunctionVersion draft,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(draft);

        await using var connection = await OpenAsync(cancellationToken);

        // BEGIN IMMEDIATE takes the write lock before the read below, so no other writer can take the same number or
        // change the current version in between. No row: the function is gone or its current version moved on.
        await using var transaction = connection.BeginTransaction(deferred: false);
        var parameters = new { FunctionId = SqliteValues.FromId(functionId), BasedOn = basedOn };
        var next = await connection.QuerySingleOrDefaultAsync<int?>(
            Command(NextVersionSql, parameters, transaction, cancellationToken));
        if (next is not { } number)
        {
            return null;
        }

        var version = draft with { FunctionId = functionId, Version = number };
        var row = SqliteVersionRow.From(version);
        await connection.ExecuteAsync(Command(InsertVersionSql, row, transaction, cancellationToken));
        var function = await connection.QuerySingleAsync<SqliteFunctionRow>(
            Command(MakeNewVersionCurrentSql, row, transaction, cancellationToken));
        await transaction.CommitAsync(cancellationToken);

        return (function.ToFunction(), version);
    }

    private const string MakeVersionCurrentSql = $"""
        UPDATE functions AS f
        SET runtime = v.runtime, handler = v.handler, memory_mb = v.memory_mb, timeout_secs = v.timeout_secs,
            network = v.network, current_version = v.version, updated_at = @UpdatedAt
        FROM function_versions AS v
        WHERE f.id = @FunctionId AND v.function_id = f.id AND v.version = @Version
        RETURNING {FunctionColumns}
        """;

    /// <inheritdoc />
    public async Task<Function?> SetCurrentVersionAsync(
        Guid functionId,
        int version,
        DateTimeOffset updatedAt,
        CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var parameters = new
        {
            FunctionId = SqliteValues.FromId(functionId),
            Version = version,
            UpdatedAt = SqliteValues.FromTime(updatedAt),
        };
        var row = await connection.QuerySingleOrDefaultAsync<SqliteFunctionRow>(
            Command(MakeVersionCurrentSql, parameters, null, cancellationToken));
        return row?.ToFunction();
    }

    private const string DeleteFunctionSql = "DELETE FROM functions WHERE name = @Name";

    /// <inheritdoc />
    public async Task<bool> DeleteFunctionAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);

        // The foreign keys cascade to versions, executions and log lines.
        await using var connection = await OpenAsync(cancellationToken);
        var deleted = await connection.ExecuteAsync(
            Command(DeleteFunctionSql, new { Name = name }, null, cancellationToken));
        return deleted > 0;
    }

    private const string SelectVersionsSql = $"""
        SELECT {VersionColumns} FROM function_versions WHERE function_id = @FunctionId ORDER BY version DESC
        """;

    /// <inheritdoc />
    public async Task<IReadOnlyList<FunctionVersion>> ListVersionsAsync(
        Guid functionId,
        CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<SqliteVersionRow>(
            Command(SelectVersionsSql, new { FunctionId = SqliteValues.FromId(functionId) }, null, cancellationToken));
        return [.. rows.Select(row => row.ToVersion())];
    }

    private const string SelectVersionSql = $"""
        SELECT {VersionColumns} FROM function_versions WHERE function_id = @FunctionId AND version = @Version
        """;

    /// <inheritdoc />
    public async Task<FunctionVersion?> GetVersionAsync(
        Guid functionId,
        int version,
        CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var parameters = new { FunctionId = SqliteValues.FromId(functionId), Version = version };
        var row = await connection.QuerySingleOrDefaultAsync<SqliteVersionRow>(
            Command(SelectVersionSql, parameters, null, cancellationToken));
        return row?.ToVersion();
    }

    private const string InsertExecutionSql = """
        INSERT INTO executions
            (id, function_id, function_name, version, status, input, output, error, duration_ms, memory_used_mb,
             executed_at)
        SELECT @Id, @FunctionId, @FunctionName, @Version, @Status, @Input, @Output, @Error, @DurationMs,
               @MemoryUsedMb, @ExecutedAt
        WHERE EXISTS (SELECT 1 FROM functions WHERE id = @FunctionId)
        """;

    private const string InsertLogSql = """
        INSERT INTO execution_logs (id, execution_id, sequence, level, message, "timestamp")
        VALUES (@Id, @ExecutionId, @Sequence, @Level, @Message, @Timestamp)
        """;

    /// <inheritdoc />
    public async Task<IReadOnlySet<Guid>> AddExecutionsAsync(
        IReadOnlyList<ExecutionEntry> entries,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);

        var written = new HashSet<Guid>();
        if (entries.Count == 0)
        {
            return written;
        }

        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction(deferred: false);

        // One command, prepared once and bound again for every execution: SQLite parses the statement once per
        // transaction rather than once per record.
        await using var insert = new ExecutionInsert(connection, transaction);
        foreach (var entry in entries)
        {
            // The insert selects nothing when the function was deleted meanwhile: that entry is dropped.
            var inserted = await insert.ExecuteAsync(entry.Execution, cancellationToken);
            if (inserted == 0)
            {
                continue;
            }

            written.Add(entry.Execution.Id);
            if (entry.Logs.Count > 0)
            {
                await connection.ExecuteAsync(Command(
                    InsertLogSql,
                    entry.Logs.Select(SqliteLogRow.From),
                    transaction,
                    cancellationToken));
            }
        }

        await transaction.CommitAsync(cancellationToken);

        if (written.Count < entries.Count)
        {
            LogExecutionsDropped(entries.Count - written.Count);
        }

        return written;
    }

    private const string SelectExecutionSql = $"SELECT {ExecutionColumns} FROM executions WHERE id = @Id";

    /// <inheritdoc />
    public async Task<ExecutionRecord?> GetExecutionAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<SqliteExecutionRow>(
            Command(SelectExecutionSql, new { Id = SqliteValues.FromId(id) }, null, cancellationToken));
        return row?.ToExecution();
    }

    /// <summary>The query of a history page: by status or not, from the newest or before an id.</summary>
    internal static string SelectExecutionsSql(bool byStatus, bool before) => $"""
        SELECT {ExecutionColumns} FROM executions
        WHERE function_id = @FunctionId{(byStatus ? " AND status = @Status" : "")}{(before ? " AND id < @Before" : "")}
        ORDER BY id DESC
        LIMIT @Limit
        """;

    /// <inheritdoc />
    public async IAsyncEnumerable<ExecutionRecord> ListExecutionsAsync(
        Guid functionId,
        ExecutionStatus? status,
        Guid? before,
        int limit,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        await using var connection = await OpenAsync(cancellationToken);
        var parameters = new
        {
            FunctionId = SqliteValues.FromId(functionId),
            Status = status?.ToName(),
            Before = before is { } id ? SqliteValues.FromId(id) : null,
            Limit = limit,
        };
        var sql = SelectExecutionsSql(status is not null, before is not null);
        await using var reader = await connection.ExecuteReaderAsync(Command(sql, parameters, null, cancellationToken));
        var parse = reader.GetRowParser<SqliteExecutionRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return parse(reader).ToExecution();
        }
    }

    private const string SelectLogsSql = """
        SELECT id AS Id, execution_id AS ExecutionId, sequence AS Sequence, level AS Level, message AS Message,
               "timestamp" AS Timestamp
        FROM execution_logs
        WHERE execution_id = @ExecutionId
        ORDER BY sequence
        """;

    /// <inheritdoc />
    public async Task<IReadOnlyList<ExecutionLogLine>> GetLogsAsync(
        Guid executionId,
        CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<SqliteLogRow>(
            Command(SelectLogsSql, new { ExecutionId = SqliteValues.FromId(executionId) }, null, cancellationToken));
        return [.. rows.Select(row => row.ToLogLine())];
    }

    private const string DeleteExecutionsBatchSql = """
        DELETE FROM executions
        WHERE id IN (SELECT id FROM executions WHERE executed_at < @Cutoff LIMIT @BatchSize)
        """;

    /// <inheritdoc />
    public async Task<int> DeleteExecutionsBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var parameters = new { Cutoff = SqliteValues.FromTime(cutoff), BatchSize = _deleteBatchSize };

        // Small transactions, so that recording executions never waits long behind a large clean-up.
        var total = 0;
        int deleted;
        do
        {
            deleted = await connection.ExecuteAsync(
                Command(DeleteExecutionsBatchSql, parameters, null, cancellationToken));
            total += deleted;
        }
        while (deleted == _deleteBatchSize);

        LogExecutionsDeleted(total, cutoff);
        return total;
    }

    /// <summary>Closes the pooled connections to the file.</summary>
    public void Dispose()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private const string ConnectionPragmasSql = """
        PRAGMA foreign_keys = ON;
        PRAGMA busy_timeout = 30000;
        PRAGMA synchronous = NORMAL;
        """;

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            // These settings belong to the connection, not the file, so every opened connection gets them.
            await connection.OpenAsync(cancellationToken);
            await connection.ExecuteAsync(Command(ConnectionPragmasSql, null, null, cancellationToken));
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static CommandDefinition Command(
        string sql,
        object? parameters,
        SqliteTransaction? transaction,
        CancellationToken cancellationToken) =>
        new(sql, parameters, transaction, cancellationToken: cancellationToken);

    private static bool IsNameTaken(SqliteException exception) =>
        exception.SqliteExtendedErrorCode == SqliteConstraintUnique
        && exception.Message.Contains("functions.name", StringComparison.Ordinal);

    [LoggerMessage(
        EventId = 2101,
        Level = LogLevel.Information,
        Message = "SQLite database {Path} is migrated; {Count} scripts applied.")]
    private partial void LogMigrated(string path, int count);

    [LoggerMessage(
        EventId = 2102,
        Level = LogLevel.Warning,
        Message = "SQLite database {Path} could not switch to WAL mode and runs in {Mode} mode.")]
    private partial void LogWalUnavailable(string path, string? mode);

    [LoggerMessage(
        EventId = 2103,
        Level = LogLevel.Warning,
        Message = "SQLite database {Path} did not answer the readiness check.")]
    private partial void LogPingFailed(string path, Exception exception);

    [LoggerMessage(
        EventId = 2104,
        Level = LogLevel.Debug,
        Message = "Dropped {Count} executions whose function was deleted before they were written.")]
    private partial void LogExecutionsDropped(int count);

    [LoggerMessage(
        EventId = 2105,
        Level = LogLevel.Debug,
        Message = "Deleted {Count} executions from before {Cutoff}.")]
    private partial void LogExecutionsDeleted(int count, DateTimeOffset cutoff);
    /// <summary>The execution insert as a prepared command whose parameters are bound anew for each record.</summary>
    private sealed class ExecutionInsert : IAsyncDisposable
    {
        private readonly SqliteCommand _command;
        private readonly SqliteParameter _id;
        private readonly SqliteParameter _functionId;
        private readonly SqliteParameter _functionName;
        private readonly SqliteParameter _version;
        private readonly SqliteParameter _status;
        private readonly SqliteParameter _input;
        private readonly SqliteParameter _output;
        private readonly SqliteParameter _error;
        private readonly SqliteParameter _durationMs;
        private readonly SqliteParameter _memoryUsedMb;
        private readonly SqliteParameter _executedAt;

        public ExecutionInsert(SqliteConnection connection, SqliteTransaction transaction)
        {
            _command = connection.CreateCommand();
            _command.Transaction = transaction;
            _command.CommandText = InsertExecutionSql;
            _id = _command.Parameters.Add("@Id", SqliteType.Text);
            _functionId = _command.Parameters.Add("@FunctionId", SqliteType.Text);
            _functionName = _command.Parameters.Add("@FunctionName", SqliteType.Text);
            _version = _command.Parameters.Add("@Version", SqliteType.Integer);
            _status = _command.Parameters.Add("@Status", SqliteType.Text);
            _input = _command.Parameters.Add("@Input", SqliteType.Text);
            _output = _command.Parameters.Add("@Output", SqliteType.Text);
            _error = _command.Parameters.Add("@Error", SqliteType.Text);
            _durationMs = _command.Parameters.Add("@DurationMs", SqliteType.Real);
            _memoryUsedMb = _command.Parameters.Add("@MemoryUsedMb", SqliteType.Real);
            _executedAt = _command.Parameters.Add("@ExecutedAt", SqliteType.Text);
        }

        public Task<int> ExecuteAsync(ExecutionRecord execution, CancellationToken cancellationToken)
        {
            var row = SqliteExecutionRow.From(execution);
            _id.Value = row.Id;
            _functionId.Value = row.FunctionId;
            _functionName.Value = row.FunctionName;
            _version.Value = row.Version;
            _status.Value = row.Status;
            _input.Value = row.Input;
            _output.Value = (object?)row.Output ?? DBNull.Value;
            _error.Value = (object?)row.Error ?? DBNull.Value;
            _durationMs.Value = row.DurationMs;
            _memoryUsedMb.Value = (object?)row.MemoryUsedMb ?? DBNull.Value;
            _executedAt.Value = row.ExecutedAt;
            return _command.ExecuteNonQueryAsync(cancellationToken);
        }

        public ValueTask DisposeAsync() => _command.DisposeAsync();
    }
}
