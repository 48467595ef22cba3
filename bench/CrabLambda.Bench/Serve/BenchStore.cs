using System.Diagnostics;
using CrabLambda.Execution;
using CrabLambda.Functions;
using CrabLambda.Storage;

namespace CrabLambda.Bench.Serve;

/// <summary>
/// Wraps the server's real store: times the calls on the invoke path and, while persistence is switched off for a
/// measurement, drops execution records instead of writing them, so that the cost of committing them shows.
/// </summary>
internal sealed class BenchStore(IFunctionStore inner, PhaseTimings timings) : IFunctionStore
{
    private volatile bool _dropExecutions;

    /// <summary>Whether execution records are written (the product's behaviour) or dropped.</summary>
    public bool Persist
    {
        get => !_dropExecutions;
        set => _dropExecutions = !value;
    }

    /// <summary>The real store, for seeding rows without the timing.</summary>
    public IFunctionStore Inner => inner;

    public Task MigrateAsync(CancellationToken cancellationToken) => inner.MigrateAsync(cancellationToken);

    public Task<bool> PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

    public Task CreateFunctionAsync(
        Function function,
        FunctionVersion firstVersion,
        CancellationToken cancellationToken) =>
        inner.CreateFunctionAsync(function, firstVersion, cancellationToken);

    public async Task<Function?> GetFunctionAsync(string name, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var function = await inner.GetFunctionAsync(name, cancellationToken);
        timings.RecordSince(PhaseTimings.Lookup, started);
        return function;
    }

    public Task<ListPage<Function>> ListFunctionsAsync(int page, int limit, CancellationToken cancellationToken) =>
        inner.ListFunctionsAsync(page, limit, cancellationToken);

    public Task<(Function Function, FunctionVersion Version)?> AddVersionAsync(
        Guid functionId,
        int basedOn,
        FunctionVersion draft,
        CancellationToken cancellationToken) =>
        inner.AddVersionAsync(functionId, basedOn, draft, cancellationToken);

    public Task<Function?> SetCurrentVersionAsync(
        Guid functionId,
        int version,
        DateTimeOffset updatedAt,
        CancellationToken cancellationToken) =>
        inner.SetCurrentVersionAsync(functionId, version, updatedAt, cancellationToken);

    public Task<bool> DeleteFunctionAsync(string name, CancellationToken cancellationToken) =>
        inner.DeleteFunctionAsync(name, cancellationToken);

    public Task<IReadOnlyList<FunctionVersion>> ListVersionsAsync(
        Guid functionId,
        CancellationToken cancellationToken) =>
        inner.ListVersionsAsync(functionId, cancellationToken);

    public async Task<FunctionVersion?> GetVersionAsync(
        Guid functionId,
        int version,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var found = await inner.GetVersionAsync(functionId, version, cancellationToken);
        timings.RecordSince(PhaseTimings.VersionRead, started);
        return found;
    }

    public async Task<IReadOnlySet<Guid>> AddExecutionsAsync(
        IReadOnlyList<ExecutionEntry> entries,
        CancellationToken cancellationToken)
    {
        if (_dropExecutions)
        {
            return entries.Select(entry => entry.Execution.Id).ToHashSet();
        }

        timings.Record(PhaseTimings.CommitBatch, entries.Count);

        var started = Stopwatch.GetTimestamp();
        var written = await inner.AddExecutionsAsync(entries, cancellationToken);
        timings.RecordSince(PhaseTimings.Commit, started);
        return written;
    }

    public Task<Execution.Execution?> GetExecutionAsync(Guid id, CancellationToken cancellationToken) =>
        inner.GetExecutionAsync(id, cancellationToken);

    public IAsyncEnumerable<Execution.Execution> ListExecutionsAsync(
        Guid functionId,
        ExecutionStatus? status,
        Guid? before,
        int limit,
        CancellationToken cancellationToken) =>
        inner.ListExecutionsAsync(functionId, status, before, limit, cancellationToken);

    public Task<IReadOnlyList<ExecutionLogLine>> GetLogsAsync(Guid executionId, CancellationToken cancellationToken) =>
        inner.GetLogsAsync(executionId, cancellationToken);

    public Task<int> DeleteExecutionsBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        inner.DeleteExecutionsBeforeAsync(cutoff, cancellationToken);
}
