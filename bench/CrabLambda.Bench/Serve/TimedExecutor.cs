using System.Diagnostics;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;

namespace CrabLambda.Bench.Serve;

/// <summary>Times the server's process executor.</summary>
internal sealed class TimedExecutor(ProcessExecutor inner, PhaseTimings timings) : IExecutor
{
    public ProcessExecutor Inner => inner;

    public async Task<ExecutionOutcome> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = await inner.ExecuteAsync(request, cancellationToken);
        timings.RecordSince(PhaseTimings.Execute, started);
        return outcome;
    }

    public Task RetireAsync(Guid functionId) => inner.RetireAsync(functionId);
}
