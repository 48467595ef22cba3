using System.Diagnostics;
using CrabLambda.Execution;
using CrabLambda.Functions;

namespace CrabLambda.Bench.Serve;

/// <summary>Times the invoke path of the server's function client; every other call passes straight through.</summary>
internal sealed class TimedFunctionClient(IFunctionClient inner, PhaseTimings timings) : IFunctionClient
{
    public Task<Function> CreateAsync(FunctionDefinition definition, CancellationToken cancellationToken = default) =>
        inner.CreateAsync(definition, cancellationToken);

    public Task<Function> GetAsync(string name, CancellationToken cancellationToken = default) =>
        inner.GetAsync(name, cancellationToken);

    public Task<ListPage<Function>> ListAsync(
        int page = 1,
        int limit = 10,
        CancellationToken cancellationToken = default) =>
        inner.ListAsync(page, limit, cancellationToken);

    public Task<Function> UpdateAsync(
        string name,
        FunctionUpdate update,
        CancellationToken cancellationToken = default) =>
        inner.UpdateAsync(name, update, cancellationToken);

    public Task DeleteAsync(string name, CancellationToken cancellationToken = default) =>
        inner.DeleteAsync(name, cancellationToken);

    public Task<IReadOnlyList<FunctionVersion>> ListVersionsAsync(
        string name,
        CancellationToken cancellationToken = default) =>
        inner.ListVersionsAsync(name, cancellationToken);

    public Task<FunctionVersion> GetVersionAsync(
        string name,
        int version,
        CancellationToken cancellationToken = default) =>
        inner.GetVersionAsync(name, version, cancellationToken);

    public Task<Function> RollbackAsync(string name, int version, CancellationToken cancellationToken = default) =>
        inner.RollbackAsync(name, version, cancellationToken);

    public async Task<InvocationResult> InvokeAsync(
        string name,
        ReadOnlyMemory<byte> eventJson,
        int? version = null,
        CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await inner.InvokeAsync(name, eventJson, version, cancellationToken);
        timings.RecordSince(PhaseTimings.Invoke, started);
        return result;
    }

    public Task<IReadOnlyList<Execution.Execution>> ListExecutionsAsync(
        string name,
        ExecutionStatus? status = null,
        int limit = 50,
        Guid? before = null,
        CancellationToken cancellationToken = default) =>
        inner.ListExecutionsAsync(name, status, limit, before, cancellationToken);

    public Task<Execution.Execution> GetExecutionAsync(Guid id, CancellationToken cancellationToken = default) =>
        inner.GetExecutionAsync(id, cancellationToken);

    public Task<IReadOnlyList<ExecutionLogLine>> GetLogsAsync(
        Guid id,
        CancellationToken cancellationToken = default) =>
        inner.GetLogsAsync(id, cancellationToken);
}
