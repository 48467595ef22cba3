using System.IO.Pipelines;
using CrabLambda.Execution.Process;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Docker;

/// <summary>
/// A worker running in a container: its output is the container's attached stdout and stderr, its exit the
/// container's, and its counters those of the container's control group.
/// </summary>
internal sealed class DockerWorkerProcess : IWorkerProcess
{
    private const int SigKillExit = 128 + 9;

    private readonly DockerClient _client;
    private readonly MultiplexedStream _attached;
    private readonly ContainerCgroup? _cgroup;
    private readonly TimeSpan _engineTimeout;
    private readonly ILogger _logger;
    private readonly Pipe _stdout = new();
    private readonly Pipe _stderr = new();
    private readonly Task _pump;
    private readonly Task<int> _exited;
    private long _lastOomKills;
    private long _lastLimitHits;
    private volatile bool _oomKilled;
    private Task? _kill;
    private int _disposed;

    public DockerWorkerProcess(
        DockerClient client,
        string containerId,
        int processId,
        MultiplexedStream attached,
        ContainerCgroup? cgroup,
        TimeSpan engineTimeout,
        ILogger logger)
    {
        _client = client;
        ContainerId = containerId;
        Id = processId;
        _attached = attached;
        _cgroup = cgroup;
        _engineTimeout = engineTimeout;
        _logger = logger;
        StandardOutput = _stdout.Reader.AsStream();
        StandardError = _stderr.Reader.AsStream();
        _lastOomKills = cgroup?.OomKills() ?? 0;
        _lastLimitHits = cgroup?.ProcessLimitHits() ?? 0;
        _pump = PumpAsync();
        _exited = WaitForExitAsync();
    }

    /// <summary>The container's id.</summary>
    public string ContainerId { get; }

    /// <summary>The host pid of the container's first process (its init).</summary>
    public int Id { get; }

    public Stream StandardOutput { get; }

    public Stream StandardError { get; }

    public Task<int> Exited => _exited;

    public bool HasOwnMemoryGroup => true;

    // The worker connects from inside the container: its pid, as the host sees it, is in the container's groups.
    public bool Owns(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cgroup").Contains(ContainerId, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void Kill()
    {
        lock (_stdout)
        {
            _kill ??= KillAsync();
        }
    }

    public void ResetPeakMemory() => _cgroup?.ResetPeak();

    public long? ReadPeakMemoryBytes() => _cgroup?.PeakBytes();

    // Once the container has stopped its group is gone; the engine's own flag then tells whether the OOM killer ended
    // it, counted on top of the last value read.
    public long ReadOomKillCount()
    {
        if (_cgroup?.OomKills() is { } kills)
        {
            _lastOomKills = kills;
            return kills;
        }

        return _exited.IsCompleted && _oomKilled ? _lastOomKills + 1 : _lastOomKills;
    }

    public long ReadProcessLimitHits()
    {
        if (_cgroup is null)
        {
            return -1;
        }

        if (_cgroup.ProcessLimitHits() is { } hits)
        {
            _lastLimitHits = hits;
        }

        return _lastLimitHits;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        Kill();
        await _kill!.ConfigureAwait(false);

        using (var timeout = new CancellationTokenSource(_engineTimeout))
        {
            try
            {
                var remove = new ContainerRemoveParameters { Force = true };
                await _client.Containers.RemoveContainerAsync(ContainerId, remove, timeout.Token).ConfigureAwait(false);
            }
            catch (DockerContainerNotFoundException)
            {
                // Already removed.
            }
            catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException
                or OperationCanceledException)
            {
                DockerLog.ContainerRemoveFailed(_logger, ContainerId, e);
            }
        }

        _attached.Dispose();
        await _pump.ConfigureAwait(false);
        _cgroup?.Dispose();
    }

    private async Task KillAsync()
    {
        if (_exited.IsCompleted)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(_engineTimeout);
        try
        {
            var kill = new ContainerKillParameters { Signal = "KILL" };
            await _client.Containers.KillContainerAsync(ContainerId, kill, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException
            or OperationCanceledException)
        {
            // A container that already stopped cannot be killed; one the engine cannot reach is removed by force.
        }
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await _attached.ReadOutputAsync(buffer, 0, buffer.Length, CancellationToken.None)
                    .ConfigureAwait(false);
                if (read.EOF)
                {
                    break;
                }

                var writer = read.Target == MultiplexedStream.TargetStream.StandardError
                    ? _stderr.Writer
                    : _stdout.Writer;
                await writer.WriteAsync(buffer.AsMemory(0, read.Count)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or HttpRequestException
            or OperationCanceledException)
        {
            // The attachment ends with the container, or when it is disposed.
        }
        finally
        {
            await _stdout.Writer.CompleteAsync().ConfigureAwait(false);
            await _stderr.Writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task<int> WaitForExitAsync()
    {
        await Task.Yield();
        int exitCode;
        try
        {
            var response = await _client.Containers.WaitContainerAsync(ContainerId, CancellationToken.None)
                .ConfigureAwait(false);
            exitCode = (int)response.StatusCode;
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException)
        {
            // The container was removed, or the engine went away: either way the worker is gone.
            return SigKillExit;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_engineTimeout);
            var state = await _client.Containers.InspectContainerAsync(ContainerId, timeout.Token)
                .ConfigureAwait(false);
            _oomKilled = state.State?.OOMKilled == true;
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException
            or OperationCanceledException)
        {
            // Removed in between: nothing more to learn.
        }

        return exitCode;
    }
}
