using System.IO.Pipes;
using System.Text;
using CrabLambda.Execution.Process;

namespace CrabLambda.Tests.Execution.Process;

public sealed class WorkerOutputTests : IDisposable
{
    private const string First = "crablambda-end-11111111";
    private const string Second = "crablambda-end-22222222";

    private readonly AnonymousPipeServerStream _stdout = new(PipeDirection.Out);
    private readonly AnonymousPipeServerStream _stderr = new(PipeDirection.Out);
    private readonly WorkerOutput _output;

    public WorkerOutputTests()
    {
        _output = new WorkerOutput(
            new AnonymousPipeClientStream(PipeDirection.In, _stdout.ClientSafePipeHandle),
            new AnonymousPipeClientStream(PipeDirection.In, _stderr.ClientSafePipeHandle),
            maxLineBytes: 1024,
            maxLogBytes: 1024 * 1024,
            maxLogLines: 10_000,
            TimeProvider.System);
        _output.Start();
    }

    [Fact]
    public async Task Begin_OutputBeforeTheFirstInvocation_BelongsToIt()
    {
        Write(_stdout, "loading\n");

        var log = _output.Begin(Encoding.ASCII.GetBytes(First));
        Write(_stdout, "running\n\n" + First + "\n");
        Write(_stderr, "\n" + First + "\n");
        await log.Completed.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["info:loading", "info:running"], Render(log));
    }

    [Fact]
    public async Task Begin_OneStreamAheadOfTheOther_FilesEachLineUnderItsInvocation()
    {
        var first = _output.Begin(Encoding.ASCII.GetBytes(First));

        // stdout already carries the second invocation's output before stderr ended the first.
        Write(_stdout, "one\n\n" + First + "\nlate background line\n");
        Write(_stderr, "oops\n\n" + First + "\n");
        await first.Completed.WaitAsync(TimeSpan.FromSeconds(30));
        var second = _output.Begin(Encoding.ASCII.GetBytes(Second));
        Write(_stdout, "two\n\n" + Second + "\n");
        Write(_stderr, "\n" + Second + "\n");
        await second.Completed.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["error:oops", "info:one"], Render(first).Order());
        Assert.Equal(["info:late background line", "info:two"], Render(second));
    }

    [Fact]
    public async Task Completed_StreamsClosedWithoutMarker_CompletesWithWhatWasWritten()
    {
        var log = _output.Begin(Encoding.ASCII.GetBytes(First));

        Write(_stdout, "no newline");
        Write(_stderr, "dying\n");
        _stdout.Dispose();
        _stderr.Dispose();
        await log.Completed.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["error:dying", "info:no newline"], Render(log).Order());
        Assert.True(_output.HasEnded);
    }

    public void Dispose()
    {
        _stdout.Dispose();
        _stderr.Dispose();
    }

    private static void Write(Stream stream, string text)
    {
        stream.Write(Encoding.UTF8.GetBytes(text));
        stream.Flush();
    }

    private static string[] Render(InvocationLog log) =>
        log.Snapshot().Select(l => $"{l.Level}:{l.Message}").ToArray();
}
