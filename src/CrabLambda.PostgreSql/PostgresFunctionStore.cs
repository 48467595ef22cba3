using System.Runtime.CompilerServices;
using CrabLambda.Execution;
using CrabLambda.Functions;
using CrabLambda.Storage;
using Dapper;
using DbUp;
using DbUp.Postgresql;
using Microsoft.Extensions.Logging;
using Npgsql;
using ExecutionRecord = CrabLambda.Execution.Execution;

namespace CrabLambda.PostgreSql;

/// <summary>
/// Keeps functions, versions, executions and log lines in PostgreSQL through one pooled
/// <see cref="NpgsqlDataSource"/>. Several servers may share the database: versions are added under a row lock on
/// the function, and migrations run under an advisory lock.
/// </summary>
/// <remarks>
/// Event input and output are <c>JSONB</c>, which stores JSON in a normalised form: a value reads back equal but not
/// byte for byte (keys sorted, duplicate keys collapsed, whitespace changed).
/// </remarks>
internal sealed partial class PostgresFunctionStore : IFunctionStore, IAsyncDisposable, IDisposable
{
    /// <summary>How many executions a retention pass deletes per transaction.</summary>
    public const int DefaultDeleteBatchSize = 1000;

    private const string MigrationsPrefix = "CrabLambda.PostgreSql.Migrations.";
    private const string JournalTable = "crablambda_migrations";

    // An arbitrary constant that names CrabLambda's migration lock among the database's advisory locks.
    private const long MigrationLockKey = 0x43726162_4C616D62;

    private const string FunctionColumns = """
        f.id AS Id, f.name AS Name, f.runtime AS Runtime, f.handler AS Handler, f.memory_mb AS MemoryMb,
        f.timeout_secs AS TimeoutSecs, f.network AS Network, f.current_version AS CurrentVersion,
        f.created_at AS CreatedAt, f.updated_at AS UpdatedAt
        """;

    private const string VersionColumns = """
        function_id AS FunctionId, version AS Version, code AS Code, code_hash AS CodeHash, runtime AS Runtime,
        handler AS Handler, memory_mb AS MemoryMb, timeout_secs AS TimeoutSecs, network AS Network,
        deployed_at AS DeployedAt
        """;

    private const string ExecutionColumns = """
        id AS Id, function_id AS FunctionId, function_name AS FunctionName, version AS Version, status AS Status,
        input::text AS Input, output::text AS Output, error AS Error, duration_ms AS DurationMs,
        memory_used_mb AS MemoryUsedMb, executed_at AS ExecutedAt
        """;

    private const string InsertVersionSql = """
        INSERT INTO function_versions
            (function_id, version, code, code_hash, runtime, handler, memory_mb, timeout_secs, network, deployed_at)
        VALUES
            (@FunctionId, @Version, @Code, @CodeHash, @Runtime, @Handler, @MemoryMb, @TimeoutSecs, @Network,
             @DeployedAt)
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly int _deleteBatchSize;
    private readonly ILogger _logger;

    /// <summary>Creates a store that takes its connections from <paramref name="dataSource"/> and owns it.</summary>
    /// <param name="dataSource">The pooled data source; disposed with the store.</param>
    /// <param name="logger">Receives migration and retention messages.</param>
    /// <param name="deleteBatchSize">How many executions a retention pass deletes per transaction.</param>
    public PostgresFunctionStore(
        NpgsqlDataSource dataSource,
        ILogger<PostgresFunctionStore> logger,
        int deleteBatchSize = DefaultDeleteBatchSize)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentOutOfRangeException.ThrowIfLessThan(deleteBatchSize, 1);

        _dataSource = dataSource;
        _deleteBatchSize = deleteBatchSize;
        _logger = logger;
    }

    private const string LockMigrationsSql = "SELECT pg_advisory_lock(@Key)";
    private const string UnlockMigrationsSql = "SELECT pg_advisory_unlock(@Key)";

    /// <inheritdoc />
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        // Servers that start together take turns: the second finds the scripts journaled and runs none.
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var key = new { Key = MigrationLockKey };
        await connection.ExecuteAsync(Command(LockMigrationsSql, key, null, cancellationToken));
        try
        {
            var applied = await Task.Run(
                () => SchemaMigrations.Apply(
                    DeployChanges.To
                        .PostgresqlDatabase(new PostgresqlConnectionManager(_dataSource))
                        .JournalToPostgresqlTable(null, JournalTable),
                    typeof(PostgresFunctionStore).Assembly,
                    MigrationsPrefix,
                    "PostgreSQL",
                    _logger),
                cancellationToken);
            LogMigrated(connection.Database, applied);
        }
        finally
        {
            await connection.ExecuteAsync(Command(UnlockMigrationsSql, key, null, CancellationToken.None));
        }
    }

    private const string PingSql = "SELECT 1";

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            return await connection.ExecuteScalarAsync<int>(Command(PingSql, null, null, cancellationToken)) == 1;
        }
        catch (NpgsqlException exception)
        {
            LogPingFailed(exception);
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

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        try
        {
            await connection.ExecuteAsync(
                Command(InsertFunctionSql, PostgresFunctionRow.From(function), transaction, cancellationToken));
        }
        catch (PostgresException exception) when (exception is
        {
            SqlState: PostgresErrorCodes.UniqueViolation,
            ConstraintName: "functions_name_unique",
        })
        {
            throw new FunctionConflictException(function.Name);
        }

        await connection.ExecuteAsync(
            Command(InsertVersionSql, PostgresVersionRow.From(firstVersion), transaction, cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    private const string SelectFunctionByNameSql = $"SELECT {FunctionColumns} FROM functions AS f WHERE f.name = @Name";

    /// <inheritdoc />
    public async Task<Function?> GetFunctionAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<PostgresFunctionRow>(
            Command(SelectFunctionByNameSql, new { Name = name }, null, cancellationToken));
        return row?.ToFunction();
    }

    private const string SelectFunctionPageSql = $"""
        SELECT {FunctionColumns} FROM functions AS f ORDER BY f.name LIMIT @Limit OFFSET @Offset;
        SELECT COUNT(*) FROM functions;
        """;

    /// <inheritdoc />
    public async Task<ListPage<Function>> ListFunctionsAsync(int page, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(page, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var offset = (long)(page - 1) * limit;
        await using var results = await connection.QueryMultipleAsync(
            Command(SelectFunctionPageSql, new { Limit = limit, Offset = offset }, null, cancellationToken));
        var rows = await results.ReadAsync<PostgresFunctionRow>();
        var total = await results.ReadSingleAsync<long>();

        return new ListPage<Function>([.. rows.Select(row => row.ToFunction())], page, limit, total);
    }

    private const string LockFunctionSql = """
        SELECT 1 FROM functions WHERE id = @FunctionId AND current_version = @BasedOn FOR UPDATE
        """;

    private const string NextVersionSql = """
        SELECT COALESCE(MAX(version), 0) + 1 FROM function_versions WHERE function_id = @FunctionId
        """;

    private const string MakeNewVersionCurrentSql = $"""
        UPDATE functions AS f
        SET runtime = @Runtime, handler = @Handler, memory_mb = @MemoryMb, timeout_secs = @TimeoutSecs,
            network = @Network, current_version = @Version, updated_at = @DeployedAt
        WHERE f.id = @FunctionId
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

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // The row lock makes concurrent deploys of one function take turns, across servers too. A deploy that waited
        // for it sees the row as the previous holder committed it, so when that one moved the current version on, no
        // row matches and nothing is stored. The number is read after the lock, in a statement of its own, for the
        // same reason.
        var based = new { FunctionId = functionId, BasedOn = basedOn };
        var locked = await connection.ExecuteScalarAsync<int?>(
            Command(LockFunctionSql, based, transaction, cancellationToken));
        if (locked is null)
        {
            return null;
        }

        var number = await connection.ExecuteScalarAsync<int>(
            Command(NextVersionSql, new { FunctionId = functionId }, transaction, cancellationToken));
        var version = draft with { FunctionId = functionId, Version = number };
        var row = PostgresVersionRow.From(version);
        await connection.ExecuteAsync(Command(InsertVersionSql, row, transaction, cancellationToken));
        var function = await connection.QuerySingleAsync<PostgresFunctionRow>(
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
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var parameters = new
        {
            FunctionId = functionId,
            Version = version,
            UpdatedAt = PostgresValues.FromTime(updatedAt),
        };
        var row = await connection.QuerySingleOrDefaultAsync<PostgresFunctionRow>(
            Command(MakeVersionCurrentSql, parameters, null, cancellationToken));
        return row?.ToFunction();
    }

    private const string DeleteFunctionSql = "DELETE FROM functions WHERE name = @Name";

    /// <inheritdoc />
    public async Task<bool> DeleteFunctionAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);

        // The foreign keys cascade to versions, executions and log lines.
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
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
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<PostgresVersionRow>(
            Command(SelectVersionsSql, new { FunctionId = functionId }, null, cancellationToken));
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
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<PostgresVersionRow>(
            Command(SelectVersionSql, new { FunctionId = functionId, Version = version }, null, cancellationToken));
        return row?.ToVersion();
    }

    private const string LockExistingFunctionsSql = """
        SELECT id FROM functions WHERE id = ANY(@FunctionIds) FOR KEY SHARE
        """;

    private const string InsertExecutionsSql = """
        INSERT INTO executions
            (id, function_id, function_name, version, status, input, output, error, duration_ms, memory_used_mb,
             executed_at)
        SELECT e.id, e.function_id, e.function_name, e.version, e.status, e.input::jsonb, e.output::jsonb, e.error,
               e.duration_ms, e.memory_used_mb, e.executed_at
        FROM unnest(
            @Ids::uuid[], @FunctionIds::uuid[], @FunctionNames::text[], @Versions::integer[], @Statuses::text[],
            @Inputs::text[], @Outputs::text[], @Errors::text[], @DurationsMs::double precision[],
            @MemoryUsedMb::double precision[], @ExecutedAt::timestamptz[])
            AS e(id, function_id, function_name, version, status, input, output, error, duration_ms,
                 memory_used_mb, executed_at)
        """;

    private const string InsertLogsSql = """
        INSERT INTO execution_logs (id, execution_id, sequence, level, message, "timestamp")
        SELECT * FROM unnest(
            @Ids::uuid[], @ExecutionIds::uuid[], @Sequences::integer[], @Levels::text[], @Messages::text[],
            @Timestamps::timestamptz[])
        """;

    /// <inheritdoc />
    public async Task<IReadOnlySet<Guid>> AddExecutionsAsync(
        IReadOnlyList<ExecutionEntry> entries,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);

        if (entries.Count == 0)
        {
            return new HashSet<Guid>();
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // FOR KEY SHARE keeps the functions found here from being deleted until this transaction ends; entries of
        // functions already gone are dropped.
        var functionIds = entries.Select(e => e.Execution.FunctionId).Distinct().ToArray();
        var existing = (await connection.QueryAsync<Guid>(Command(
            LockExistingFunctionsSql,
            new { FunctionIds = functionIds },
            transaction,
            cancellationToken))).ToHashSet();
        var kept = entries.Where(e => existing.Contains(e.Execution.FunctionId)).ToList();

        if (kept.Count > 0)
        {
            var executions = PostgresExecutionBatch.From([.. kept.Select(e => e.Execution)]);
            await connection.ExecuteAsync(Command(InsertExecutionsSql, executions, transaction, cancellationToken));

            var logs = PostgresLogBatch.From([.. kept.SelectMany(e => e.Logs)]);
            if (logs.Count > 0)
            {
                await connection.ExecuteAsync(Command(InsertLogsSql, logs, transaction, cancellationToken));
            }
        }

        await transaction.CommitAsync(cancellationToken);

        if (kept.Count < entries.Count)
        {
            LogExecutionsDropped(entries.Count - kept.Count);
        }

        return kept.Select(e => e.Execution.Id).ToHashSet();
    }

    private const string SelectExecutionSql = $"SELECT {ExecutionColumns} FROM executions WHERE id = @Id";

    /// <inheritdoc />
    public async Task<ExecutionRecord?> GetExecutionAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<PostgresExecutionRow>(
            Command(SelectExecutionSql, new { Id = id }, null, cancellationToken));
        return row?.ToExecution();
    }

    private static string SelectExecutionsSql(bool byStatus, bool before) => $"""
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

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var parameters = new { FunctionId = functionId, Status = status?.ToName(), Before = before, Limit = limit };
        var sql = SelectExecutionsSql(status is not null, before is not null);
        await using var reader = await connection.ExecuteReaderAsync(Command(sql, parameters, null, cancellationToken));
        var parse = reader.GetRowParser<PostgresExecutionRow>();
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
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<PostgresLogRow>(
            Command(SelectLogsSql, new { ExecutionId = executionId }, null, cancellationToken));
        return [.. rows.Select(row => row.ToLogLine())];
    }

    private const string DeleteExecutionsBatchSql = """
        DELETE FROM executions
        WHERE id IN (
            SELECT id FROM executions WHERE executed_at < @Cutoff LIMIT @BatchSize FOR UPDATE SKIP LOCKED)
        """;

    /// <inheritdoc />
    public async Task<int> DeleteExecutionsBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var parameters = new { Cutoff = PostgresValues.FromTime(cutoff), BatchSize = _deleteBatchSize };

        // Small transactions keep locks short; SKIP LOCKED lets two servers' clean-ups share the work.
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

    /// <summary>Closes the data source and its pooled connections.</summary>
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    /// <summary>Closes the data source and its pooled connections.</summary>
    public void Dispose() => _dataSource.Dispose();

    private static CommandDefinition Command(
        string sql,
        object? parameters,
        NpgsqlTransaction? transaction,
        CancellationToken cancellationToken) =>
        new(sql, parameters, transaction, cancellationToken: cancellationToken);

    [LoggerMessage(
        EventId = 2201,
        Level = LogLevel.Information,
        Message = "PostgreSQL database {Database} is migrated; {Count} scripts applied.")]
    private partial void LogMigrated(string database, int count);

    [LoggerMessage(
        EventId = 2202,
        Level = LogLevel.Warning,
        Message = "PostgreSQL did not answer the readiness check.")]
    private partial void LogPingFailed(Exception exception);

    [LoggerMessage(
        EventId = 2203,
        Level = LogLevel.Debug,
        Message = "Dropped {Count} executions whose function was deleted before they were written.")]
    private partial void LogExecutionsDropped(int count);

    [LoggerMessage(
        EventId = 2204,
        Level = LogLevel.Debug,
        Message = "Deleted {Count} executions from before {Cutoff}.")]
    private partial void LogExecutionsDeleted(int count, DateTimeOffset cutoff);
}
