using System.Text;
using CrabLambda.Execution.Process;

namespace CrabLambda.Tests.Execution.Process;

public sealed class InvocationLogTests
{
    private static readonly DateTimeOffset s_now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Fact]
    public void Add_WithinBudget_KeepsLinesInOrderWithLevels()
    {
        var log = new InvocationLog(1024, 100);

        Add(log, "info", "one");
        Add(log, "error", "two");
        Add(log, "info", "three");

        Assert.Equal(
            [("info", "one"), ("error", "two"), ("info", "three")],
            log.Snapshot().Select(l => (l.Level, l.Message)));
    }

    [Fact]
    public void Add_PastByteBudget_DropsTheRestWithOneNoteCountingThem()
    {
        var log = new InvocationLog(2048, 100);

        Add(log, "info", new string('a', 1024));
        Add(log, "info", new string('b', 1024));
        Add(log, "error", "c");
        Add(log, "info", "d");
        Add(log, "info", "ee");

        var lines = log.Snapshot();
        Assert.Equal(3, lines.Count);
        Assert.Equal(new string('b', 1024), lines[1].Message);
        Assert.Equal("error", lines[2].Level);
        Assert.Equal("[log truncated at 2 KiB: 3 lines more dropped, 4 bytes of text]", lines[2].Message);
    }

    [Fact]
    public void Add_EmptyLinesPastLineBudget_KeepTheBudgetAndOneNote()
    {
        var log = new InvocationLog(1024, 3);

        for (var i = 0; i < 100_000; i++)
        {
            log.Add("info", [], 0, s_now);
        }

        var lines = log.Snapshot();
        Assert.Equal(4, lines.Count);
        Assert.All(lines.Take(3), l => Assert.Equal(string.Empty, l.Message));
        Assert.Equal("[log truncated at 3 lines: 99997 lines more dropped, 0 bytes of text]", lines[3].Message);
    }

    [Fact]
    public void Snapshot_WhileLinesAreStillDropped_CountsThoseDroppedSoFar()
    {
        var log = new InvocationLog(1024, 1);
        Add(log, "info", "kept");
        Add(log, "error", "dropped");

        var early = log.Snapshot();
        Add(log, "info", "also dropped");
        var late = log.Snapshot();

        Assert.Equal("[log truncated at 1 line: 1 line more dropped, 7 bytes of text]", early[1].Message);
        Assert.Equal("[log truncated at 1 line: 2 lines more dropped, 19 bytes of text]", late[1].Message);
        Assert.Equal("error", late[1].Level);
    }

    [Fact]
    public void Add_CutLine_EndsWithANoteGivingItsLength()
    {
        var log = new InvocationLog(1024, 100);

        log.Add("info", "abc"u8, 50_000, s_now);

        Assert.Equal("abc [line truncated: 50000 bytes in all]", log.Snapshot().Single().Message);
    }

    [Fact]
    public void Add_CutInsideACharacter_DropsTheHalfCharacter()
    {
        var log = new InvocationLog(1024, 100);
        var bytes = Encoding.UTF8.GetBytes("ab€");

        log.Add("info", bytes.AsSpan(0, 4), 100, s_now);

        Assert.StartsWith("ab [line truncated", log.Snapshot().Single().Message);
    }

    [Fact]
    public void Completed_AfterBothStreamsAreDone_Completes()
    {
        var log = new InvocationLog(1024, 100);

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
