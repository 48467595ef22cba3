namespace CrabLambda.Execution.Sandbox;

/// <summary>
/// The limits one worker's control group enforces.
/// </summary>
/// <param name="MemoryBytes">The most memory (and swap) its processes may use together.</param>
/// <param name="MaxProcesses">The most processes and threads it may have at once.</param>
/// <param name="Cpus">Its CPU share in CPUs, e.g. 0.25 for a quarter of one CPU.</param>
internal sealed record CgroupLimits(long MemoryBytes, int MaxProcesses, double Cpus)
{
    /// <summary>The CFS period that CPU quotas are expressed in.</summary>
    public const int CpuPeriodMicroseconds = 100_000;

    public long CpuQuotaMicroseconds => Math.Max(1000, (long)Math.Round(Cpus * CpuPeriodMicroseconds));
}
