using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// Lanes that invoke one function over and over, each waiting for its answer before the next, until a server
/// process they kill with SIGKILL is gone. The kill comes when <see cref="AnswersBeforeTheKill"/> answers have been
/// seen, at once or after a step of the test's own, while the lanes are still waiting for theirs; besides them, one
/// invocation that pauses far longer than the burst lasts is certainly running then. Records what every answer said,
/// and how many invocations the kill cut off. The function takes events <c>{"lane", "n"}</c> and an optional
/// <c>"pause"</c> in seconds.
/// </summary>
internal sealed class InvocationBurst(Process server, string function, Func<InvocationBurst, Task>? beforeTheKill)
{
    /// <summary>How many invocations wait for their answers at any moment.</summary>
    public const int Lanes = 8;

    /// <summary>Enough answers that every lane's worker is warm and busy when the server is killed.</summary>
    public const int AnswersBeforeTheKill = 48;

    /// <summary>The lane of the one long invocation.</summary>
    public const int LongLane = -1;

    // Longer than any burst takes to reach the kill, shorter than the function's timeout.
    private const int LongPauseSecs = 20;

    private readonly ConcurrentQueue<Answer> _answered = new();
    private readonly Lock _killing = new();
    private List<(int Pid, string CommandLine)> _workers = [];
    private int _inFlight;
    private int _answers;
    private int _cutOff;
    private int _triggered;
    private Task? _beforeTheKill;
    private volatile bool _killed;

    /// <summary>Every 200 answer the lanes received, before the kill or after it.</summary>
    public IReadOnlyCollection<Answer> Answered => _answered;

    /// <summary>How many answers the lanes have received so far.</summary>
    public int AnswerCount => Volatile.Read(ref _answers);

    /// <summary>How many invocations were sent and not yet answered when the server was killed.</summary>
    public int InFlightAtTheKill { get; private set; }

    /// <summary>How many invocations sent before the kill never got an answer.</summary>
    public int CutOff => _cutOff;

    /// <summary>Runs the lanes until the server is killed and every lane has seen it.</summary>
    public async Task RunAsync(HttpClient http)
    {
        var lanes = new List<Task> { InvokeAsync(http, LongLane, 0, LongPauseSecs) };
        lanes.AddRange(Enumerable.Range(0, Lanes).Select(lane => RunLaneAsync(http, lane)));
        try
        {
            await Task.WhenAll(lanes);
        }
        finally
        {
            // A lane that failed leaves the others running until the server goes.
            Kill();
            await Task.WhenAll(lanes.Select(lane => lane.ContinueWith(_ => { }, TaskScheduler.Default)));
        }

        if (_beforeTheKill is not null)
        {
            await _beforeTheKill;
        }
    }

    /// <summary>Kills the workers the server left, should any outlive it.</summary>
    public void KillLeftoverWorkers()
    {
        foreach (var (pid, _) in _workers.Where(w => ServerProcess.IsAlive(w.Pid, w.CommandLine)))
        {
            try
            {
                using var worker = Process.GetProcessById(pid);
                worker.Kill();
            }
            catch (Exception exception) when (exception is ArgumentException or InvalidOperationException)
            {
                // Gone meanwhile.
            }
        }
    }

    private async Task RunLaneAsync(HttpClient http, int lane)
    {
        for (var n = 0; await InvokeAsync(http, lane, n, pauseSecs: null); n++)
        {
        }
    }

    // Sends one invocation and records its answer; false when the kill cut it off or came before it.
    private async Task<bool> InvokeAsync(HttpClient http, int lane, int n, int? pauseSecs)
    {
        var pause = pauseSecs is null ? "" : $$""","pause":{{pauseSecs}}""";
        var body = $$"""{"lane":{{lane}},"n":{{n}}{{pause}}}""";
        var sentBeforeTheKill = !_killed;
        Interlocked.Increment(ref _inFlight);
        HttpResponseMessage response;
        string text;
        try
        {
            response = await http.PostAsync($"api/functions/{function}/invoke", new StringContent(body));
            text = await response.Content.ReadAsStringAsync();
        }
        catch (HttpRequestException) when (_killed)
        {
            if (sentBeforeTheKill)
            {
                Interlocked.Increment(ref _cutOff);
            }

            return false;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{body}: {(int)response.StatusCode}: {text}");
        _answered.Enqueue(new Answer(lane, n, body, JsonDocument.Parse(text).RootElement.Clone()));
        if (lane != LongLane)
        {
            CountAnswer();
        }

        return true;
    }

    // Counts a lane's answer, and kills the server, or starts the test's step before the kill, at the one that
    // reaches the count.
    private void CountAnswer()
    {
        var answers = Interlocked.Increment(ref _answers);
        if (answers == AnswersBeforeTheKill / 2)
        {
            // Every lane has its worker by now. Found here, so that nothing delays the kill itself.
            _workers = ServerProcess.Descendants(server.Id);
        }
        else if (answers >= AnswersBeforeTheKill && Interlocked.Exchange(ref _triggered, 1) == 0)
        {
            if (beforeTheKill is null)
            {
                Kill();
            }
            else
            {
                _beforeTheKill = Task.Run(async () =>
                {
                    try
                    {
                        await beforeTheKill(this);
                    }
                    finally
                    {
                        Kill();
                    }
                });
            }
        }
    }

    private void Kill()
    {
        lock (_killing)
        {
            if (_killed)
            {
                return;
            }

            InFlightAtTheKill = Volatile.Read(ref _inFlight);
            _killed = true;

            // Process.Kill sends SIGKILL: the server gets no chance to finish anything.
            server.Kill();
        }
    }

    /// <summary>One 200 answer: the lane, the invocation's number in it, the event sent, and the result.</summary>
    public sealed record Answer(int Lane, int N, string Event, JsonElement Result);
}
