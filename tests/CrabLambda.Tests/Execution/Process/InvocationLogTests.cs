using System.Text;
using CrabLambda.Execution.Process;

namespace CrabLambda.Tests.Execution.Process;

public sealed class InvocationLogTests
{
    private static readonly DateTimeOffset s_now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Fact]
    public void Add_WithinBudget_KeepsLinesInOrderWithLevels()
    {
        var log = new InvocationLog(1024);

        Add(log, "info", "one");
        Add(log, "error", "two");
        Add(log, "info", "three");

        Assert.Equal(
            [("info", "one"), ("error", "two"), ("info", "three")],
            log.Snapshot().Select(l => (l.Level, l.Message)));
    }

    [Fact]
    public void Add_PastBudget_DropsTheRestWithOneNote()
    {
        var log = new InvocationLog(2048);

        Add(log, "info", new string('a', 1024));
        Add(log, "info", new string('b', 1024));
        Add(log, "error", "c");
        Add(log, "info", "d");
        Add(log, "info", "e");

        var lines = log.Snapshot();
        Assert.Equal(3, lines.Count);
        Assert.Equal(new string('b', 1024), lines[1].Message);
        Assert.Equal("error", lines[2].Level);
        Assert.Contains("more than 2 KiB", lines[2].Message);
    }

    [Fact]
    public void Add_CutLine_EndsWithANoteGivingItsLength()
    {
        var log = new InvocationLog(1024);

        log.Add("info", "abc"u8, 50_000, s_now);

        Assert.Equal("abc [line truncated: 50000 bytes in all]", log.Snapshot().Single().Message);
    }

    [Fact]
    public void Add_CutInsideACharacter_DropsTheHalfCharacter()
    {
        var log = new InvocationLog(1024);
        var bytes = Encoding.UTF8.GetBytes("ab€");

        log.Add("info", bytes.AsSpan(0, 4), 100, s_now);

        Assert.StartsWith("ab [line truncated", log.Snapshot().Single().Message);
    }

    [Fact]
    public void Completed_AfterBothStreamsAreDone_Completes()
    {
        var log = new InvocationLog(1024);

        log.MarkStreamDone(InvocationLog.Stdout);
        var afterOne = log.Completed.IsCompleted;
        log.MarkStreamDone(InvocationLog.Stderr);

        Assert.False(afterOne);
        Assert.True(log.Completed.IsCompletedSuccessfully);
    }

    private static void Add(InvocationLog log, string level, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        log.Add(level, bytes, bytes.Length, s_now);
    }
}
