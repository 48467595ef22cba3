using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Runtimes;
using CrabLambda.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Functions;

/// <summary>
/// The engine behind the REST API: validation and versioning of deploys, and the invoke path (limit, execute,
/// record).
/// </summary>
internal sealed partial class FunctionClient(
    IFunctionStore store,
    IExecutor executor,
    RuntimeRegistry runtimes,
    ExecutionLimiter limiter,
    ExecutionRecorder recorder,
    RunningExecutions running,
    DeployShutdown shutdown,
    IOptions<CrabLambdaOptions> options,
    TimeProvider time,
    ILogger<FunctionClient> logger) : IFunctionClient
{
    public const int MaxPageSize = 100;
    public const int MaxExecutionsLimit = 1000;

    /// <summary>
    /// The characters of input, output and error past which a history page ends: with events and outputs of up to
    /// 6 MB each, 1000 executions could otherwise make one answer of gigabytes.
    /// </summary>
    public const long MaxPageText = 16L * 1024 * 1024;

    private const int VersionCacheCapacity = 4096;
    private static readonly byte[] EmptyEvent = "{}"u8.ToArray();

    // Versions are immutable, so a cached copy is never stale; it saves reading the code on every invoke.
    private readonly ConcurrentDictionary<(Guid FunctionId, int Version), FunctionVersion> _versions = new();
    private readonly CrabLambdaOptions _options = options.Value;

    public async Task<Function> CreateAsync(
        FunctionDefinition definition,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);

        var validator = new FunctionValidator(_options, runtimes);
        validator.CheckCodeSize(definition.Code);
        validator.CheckName(definition.Name);
        var runtime = validator.CheckRuntime(definition.Runtime);
        validator.CheckHandler(definition.Handler, runtime);
        validator.CheckCode(definition.Code);
        validator.CheckMemory(definition.MemoryMb);
        validator.CheckTimeout(definition.TimeoutSecs);
        validator.ThrowIfInvalid();

        var name = definition.Name!;
        if (await store.GetFunctionAsync(name, cancellationToken).ConfigureAwait(false) is not null)
        {
            throw new FunctionConflictException(name);
        }

        var now = Now();
        var version = new FunctionVersion(
            Guid.CreateVersion7(now),
            1,
            definition.Code!,
            HashCode(definition.Code!),
            runtime!.Name,
            definition.Handler!,
            definition.MemoryMb ?? _options.DefaultMemoryMb,
            definition.TimeoutSecs ?? _options.DefaultTimeoutSecs,
            definition.Network ?? _options.DefaultNetwork,
            now);
        await PrepareAsync(name, runtime, version, cancellationToken).ConfigureAwait(false);

        var function = new Function(
            version.FunctionId,
            name,
            version.Runtime,
            version.Handler,
            version.MemoryMb,
            version.TimeoutSecs,
            version.Network,
            CurrentVersion: 1,
            CreatedAt: now,
            UpdatedAt: now);
        await store.CreateFunctionAsync(function, version, cancellationToken).ConfigureAwait(false);

        LogDeployed(function.Name, 1, function.Runtime);
        return function;
    }

    public async Task<Function> GetAsync(string name, CancellationToken cancellationToken = default) =>
        await FindAsync(name, cancellationToken).ConfigureAwait(false);

    public Task<ListPage<Function>> ListAsync(
        int page = 1,
        int limit = 10,
        CancellationToken cancellationToken = default)
    {
        var validator = new FunctionValidator(_options, runtimes);
        if (page < 1)
        {
            validator.Add("page", "page must be 1 or more.");
        }

        if (limit is < 1 or > MaxPageSize)
        {
            validator.Add("limit", $"limit must be between 1 and {MaxPageSize}.");
        }

        validator.ThrowIfInvalid();
        return store.ListFunctionsAsync(page, limit, cancellationToken);
    }

    public async Task<Function> UpdateAsync(
        string name,
        FunctionUpdate update,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);

        var function = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        runtimes.TryGet(function.Runtime, out var runtime);

        var validator = new FunctionValidator(_options, runtimes);
        validator.CheckCodeSize(update.Code);
        if (update.Code is not null)
        {
            validator.CheckCode(update.Code);
        }

        if (update.Handler is not null)
        {
            validator.CheckHandler(update.Handler, runtime);
        }

        validator.CheckMemory(update.MemoryMb);
        validator.CheckTimeout(update.TimeoutSecs);
        validator.ThrowIfInvalid();

        if (runtime is null)
        {
            throw new InvalidOperationException(
                $"The runtime '{function.Runtime}' of function '{name}' is not registered on this server.");
        }

        // Another deploy or a rollback may come between reading the current version and storing the new one. The
        // store then stores nothing, and the update is made again on what is current now, so that it never undoes
        // the other change. An attempt fails only after another change succeeded, so the loop ends.
        while (true)
        {
            var current = await FindVersionAsync(function, function.CurrentVersion, cancellationToken)
                .ConfigureAwait(false);
            var draft = current with
            {
                Code = update.Code ?? current.Code,
                CodeHash = update.Code is null ? current.CodeHash : HashCode(update.Code),
                Handler = update.Handler ?? current.Handler,
                MemoryMb = update.MemoryMb ?? current.MemoryMb,
                TimeoutSecs = update.TimeoutSecs ?? current.TimeoutSecs,
                Network = update.Network ?? current.Network,
                DeployedAt = Now(),
            };
            if (draft with { DeployedAt = current.DeployedAt } == current)
            {
                return function;
            }

            await PrepareAsync(name, runtime, draft, cancellationToken).ConfigureAwait(false);

            var stored = await store
                .AddVersionAsync(function.Id, current.Version, draft, cancellationToken)
                .ConfigureAwait(false);
            if (stored is { } added)
            {
                LogDeployed(name, added.Version.Version, added.Function.Runtime);
                return added.Function;
            }

            var now = await FindAsync(name, cancellationToken).ConfigureAwait(false);
            if (now.Id != function.Id)
            {
                throw FunctionNotFound(name);
            }

            LogUpdateRetried(name, current.Version, now.CurrentVersion);
            function = now;
        }
    }

    public async Task DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        var function = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        if (!await store.DeleteFunctionAsync(name, cancellationToken).ConfigureAwait(false))
        {
            throw FunctionNotFound(name);
        }

        foreach (var key in _versions.Keys.Where(k => k.FunctionId == function.Id))
        {
            _versions.TryRemove(key, out _);
        }

        await executor.RetireAsync(function.Id).ConfigureAwait(false);
        LogDeleted(name);
    }

    public async Task<IReadOnlyList<FunctionVersion>> ListVersionsAsync(
        string name,
        CancellationToken cancellationToken = default)
    {
        var function = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        return await store.ListVersionsAsync(function.Id, cancellationToken).ConfigureAwait(false);
    }

    public async Task<FunctionVersion> GetVersionAsync(
        string name,
        int version,
        CancellationToken cancellationToken = default)
    {
        var function = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        return await FindVersionAsync(function, version, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Function> RollbackAsync(string name, int version, CancellationToken cancellationToken = default)
    {
        var function = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        await FindVersionAsync(function, version, cancellationToken).ConfigureAwait(false);
        if (function.CurrentVersion == version)
        {
            return function;
        }

        var updated = await store
            .SetCurrentVersionAsync(function.Id, version, Now(), cancellationToken)
            .ConfigureAwait(false) ?? throw FunctionNotFound(name);

        LogRolledBack(name, version);
        return updated;
    }

    public async Task<InvocationResult> InvokeAsync(
        string name,
        ReadOnlyMemory<byte> eventJson,
        int? version = null,
        CancellationToken cancellationToken = default)
    {
        var input = eventJson.IsEmpty ? EmptyEvent : eventJson;
        CheckEvent(input.Span);

        var function = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        var toRun = await FindVersionAsync(function, version ?? function.CurrentVersion, cancellationToken)
            .ConfigureAwait(false);
        if (!runtimes.TryGet(toRun.Runtime, out var runtime))
        {
            throw new RuntimeUnavailableException(
                $"The runtime '{toRun.Runtime}' of function '{name}' is not registered on this server.");
        }

        var executedAt = Now();
        var executionId = Guid.CreateVersion7(executedAt);
        ExecutionOutcome outcome;
        var slot = await limiter.AcquireAsync(cancellationToken).ConfigureAwait(false);

        // Counted as running once it has a slot, until it is recorded: while it waits, the limiter counts it.
        using var counted = running.Enter();
        using (slot)
        {
            // Once a function starts it runs to its end and is recorded, even if the caller goes away.
            var request = new ExecutionRequest(executionId, function.Name, toRun, runtime, input);
            try
            {
                outcome = await executor.ExecuteAsync(request, CancellationToken.None).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // The host stopped the executor while this invocation waited for a slot: it never started.
                throw new ServerStoppingException(
                    "The server is shutting down and did not run the function; try again once it is back.");
            }
        }

        var execution = new Execution.Execution(
            executionId,
            function.Id,
            function.Name,
            toRun.Version,
            outcome.Status,
            Encoding.UTF8.GetString(input.Span),
            outcome.Output,
            outcome.Error,
            outcome.DurationMs,
            outcome.MemoryUsedMb,
            executedAt);
        var logs = new ExecutionLogLine[outcome.Logs.Count];
        for (var i = 0; i < logs.Length; i++)
        {
            var line = outcome.Logs[i];
            logs[i] = new ExecutionLogLine(
                Guid.CreateVersion7(line.Timestamp),
                executionId,
                i,
                line.Level,
                line.Message,
                line.Timestamp);
        }

        bool recorded;
        try
        {
            recorded = await recorder.RecordAsync(new ExecutionEntry(execution, logs)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw new ExecutionNotRecordedException(
                $"The function '{name}' ran, but its execution could not be recorded: {ex.Message}",
                ex);
        }

        if (!recorded)
        {
            throw new NotFoundException(
                $"The function '{name}' was deleted while it ran, so its execution was not recorded.");
        }

        return new InvocationResult(
            executionId,
            outcome.Status,
            outcome.Output,
            outcome.Error,
            outcome.DurationMs,
            toRun.Version,
            outcome.MemoryUsedMb);
    }

    public async Task<IReadOnlyList<Execution.Execution>> ListExecutionsAsync(
        string name,
        ExecutionStatus? status = null,
        int limit = 50,
        Guid? before = null,
        CancellationToken cancellationToken = default)
    {
        if (limit is < 1 or > MaxExecutionsLimit)
        {
            throw new FunctionValidationException(new Dictionary<string, string[]>
            {
                ["limit"] = [$"limit must be between 1 and {MaxExecutionsLimit}."],
            });
        }

        var function = await FindAsync(name, cancellationToken).ConfigureAwait(false);
        var page = new List<Execution.Execution>();
        long text = 0;
        var executions = store.ListExecutionsAsync(function.Id, status, before, limit, cancellationToken);
        await foreach (var execution in executions.ConfigureAwait(false))
        {
            page.Add(execution);
            text += execution.Input.Length + (execution.Output?.Length ?? 0) + (execution.Error?.Length ?? 0);
            if (page.Count == limit || text >= MaxPageText)
            {
                break;
            }
        }

        return page;
    }

    public async Task<Execution.Execution> GetExecutionAsync(Guid id, CancellationToken cancellationToken = default) =>
        await store.GetExecutionAsync(id, cancellationToken).ConfigureAwait(false)
        ?? throw new NotFoundException($"There is no execution with id {id}.");

    public async Task<IReadOnlyList<ExecutionLogLine>> GetLogsAsync(
        Guid id,
        CancellationToken cancellationToken = default)
    {
        await GetExecutionAsync(id, cancellationToken).ConfigureAwait(false);
        return await store.GetLogsAsync(id, cancellationToken).ConfigureAwait(false);
    }

    internal static string HashCode(string code) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code)));

    // The stores keep microseconds; an answer made from the clock must not show more than a later read of it.
    private DateTimeOffset Now()
    {
        var now = time.GetUtcNow();
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
    }

    /// <summary>
    /// Has the runtime prepare a version before it is stored. A preparation still running when the host has been
    /// stopping for the shutdown grace is stopped, so that the deploy is answered while the web server still serves
    /// and its version is not stored after that answer.
    /// </summary>
    private async Task PrepareAsync(
        string name,
        IRuntime runtime,
        FunctionVersion version,
        CancellationToken cancellationToken)
    {
        using var prepare = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, shutdown.GraceEnded);
        try
        {
            await runtime.PrepareAsync(version, prepare.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (shutdown.GraceEnded.IsCancellationRequested
            && !cancellationToken.IsCancellationRequested)
        {
            LogDeployStopped(name, version.Runtime);
            throw new ServerStoppingException(
                "The server is shutting down and stopped waiting for the function's code to be prepared (compiled), "
                + "so nothing was deployed. Deploy it again once the server is back.");
        }
    }

    private void CheckEvent(ReadOnlySpan<byte> input)
    {
        if (EventCheck.Problem(input, _options.MaxEventMb) is { } problem)
        {
            throw new FunctionValidationException(new Dictionary<string, string[]> { ["event"] = [problem] });
        }
    }

    private async Task<Function> FindAsync(string name, CancellationToken cancellationToken) =>
        await store.GetFunctionAsync(name, cancellationToken).ConfigureAwait(false) ?? throw FunctionNotFound(name);

    private async Task<FunctionVersion> FindVersionAsync(
        Function function,
        int version,
        CancellationToken cancellationToken)
    {
        if (_versions.TryGetValue((function.Id, version), out var cached))
        {
            return cached;
        }

        var found = await store.GetVersionAsync(function.Id, version, cancellationToken).ConfigureAwait(false)
            ?? throw new NotFoundException($"The function '{function.Name}' has no version {version}.");

        if (_versions.Count >= VersionCacheCapacity)
        {
            _versions.Clear();
        }

        _versions[(function.Id, version)] = found;
        return found;
    }

    private static NotFoundException FunctionNotFound(string name) =>
        new($"There is no function named '{name}'.");

    [LoggerMessage(1, LogLevel.Information, "Deployed function {Name} version {Version} ({Runtime})")]
    private partial void LogDeployed(string name, int version, string runtime);

    [LoggerMessage(2, LogLevel.Information, "Deleted function {Name}")]
    private partial void LogDeleted(string name);

    [LoggerMessage(3, LogLevel.Information, "Rolled function {Name} back to version {Version}")]
    private partial void LogRolledBack(string name, int version);

    [LoggerMessage(
        4,
        LogLevel.Debug,
        "Function {Name} changed from version {Version} to {CurrentVersion} during an update; updating that one")]
    private partial void LogUpdateRetried(string name, int version, int currentVersion);

    [LoggerMessage(
        5,
        LogLevel.Warning,
        "Did not deploy the new code of function {Name} ({Runtime}): it was still being prepared when the shutdown "
            + "grace ended")]
    private partial void LogDeployStopped(string name, string runtime);
}
