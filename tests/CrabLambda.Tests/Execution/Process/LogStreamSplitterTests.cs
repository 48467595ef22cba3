using System.Text;
using CrabLambda.Execution.Process;

namespace CrabLambda.Tests.Execution.Process;

public sealed class LogStreamSplitterTests
{
    private const string Marker = "crablambda-end-0123456789abcdef";
    private const string Wrapped = "\n" + Marker + "\n";

    [Fact]
    public void Write_LinesEndedByNewline_EmitsEachLine()
    {
        var events = Split("one\ntwo\n");

        Assert.Equal(["line:one", "line:two"], events);
    }

    [Fact]
    public void Complete_LastLineWithoutNewline_EmitsIt()
    {
        var splitter = new LogStreamSplitter(64);
        var sink = new RecordingSink();

        splitter.Write("one\npartial"u8, sink);
        splitter.Complete(sink);

        Assert.Equal(["line:one", "line:partial"], sink.Events);
    }

    [Fact]
    public void Write_MarkerAfterOutputEndingInNewline_EmitsLinesThenMarker()
    {
        var events = Split("a\nb\n" + Wrapped, Marker);

        Assert.Equal(["line:a", "line:b", "marker"], events);
    }

    [Fact]
    public void Write_MarkerAfterOutputWithoutNewline_KeepsTheLastLine()
    {
        var events = Split("abc" + Wrapped, Marker);

        Assert.Equal(["line:abc", "marker"], events);
    }

    [Fact]
    public void Write_MarkerWithNoOutput_EmitsOnlyTheMarker()
    {
        var events = Split(Wrapped, Marker);

        Assert.Equal(["marker"], events);
    }

    [Fact]
    public void Write_OutputEndingInBlankLine_KeepsTheBlankLine()
    {
        var events = Split("a\n\n" + Wrapped, Marker);

        Assert.Equal(["line:a", "line:", "marker"], events);
    }

    [Fact]
    public void Write_OutputOfOneEmptyLine_KeepsIt()
    {
        var events = Split("\n" + Wrapped, Marker);

        Assert.Equal(["line:", "marker"], events);
    }

    [Fact]
    public void Write_BlankLinesInTheMiddle_AreLines()
    {
        var events = Split("a\n\n\nb\n");

        Assert.Equal(["line:a", "line:", "line:", "line:b"], events);
    }

    [Fact]
    public void Write_OutputAfterTheMarker_BelongsAfterIt()
    {
        var events = Split("before\n" + Wrapped + "after\n", Marker);

        Assert.Equal(["line:before", "marker", "line:after"], events);
    }

    [Fact]
    public void Write_EveryChunkBoundary_GivesTheSameLines()
    {
        var stream = "one\ntwo\n\nthree" + Wrapped + "next\n";
        var expected = Split(stream, Marker);
        var bytes = Encoding.UTF8.GetBytes(stream);

        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            var splitter = NewSplitter(64, Marker);
            var sink = new RecordingSink();
            splitter.Write(bytes.AsSpan(0, cut), sink);
            splitter.Write(bytes.AsSpan(cut), sink);

            Assert.Equal(expected, sink.Events);
        }
    }

    [Fact]
    public void Write_OneByteAtATime_GivesTheSameLines()
    {
        var stream = "x\r\ny" + Wrapped + "\nz\n";
        var expected = Split(stream, Marker);
        var splitter = NewSplitter(64, Marker);
        var sink = new RecordingSink();

        foreach (var b in Encoding.UTF8.GetBytes(stream))
        {
            splitter.Write([b], sink);
        }

        Assert.Equal(expected, sink.Events);
        Assert.Equal(["line:x", "line:y", "marker", "line:", "line:z"], sink.Events);
    }

    [Fact]
    public void Write_MarkerOfAnEarlierInvocation_IsAnOrdinaryLine()
    {
        const string Earlier = "crablambda-end-ffffffffffffffff";

        var events = Split("\n" + Earlier + "\nmore\n" + Wrapped, Marker);

        Assert.Equal(["line:", "line:" + Earlier, "line:more", "marker"], events);
    }

    [Fact]
    public void Write_MarkerInsideALine_IsNotAMarker()
    {
        var events = Split("say " + Marker + "\n" + Marker + "tail\n", Marker);

        Assert.Equal(["line:say " + Marker, "line:" + Marker + "tail"], events);
    }

    [Fact]
    public void Write_MarkerAtStreamStartWithoutLineBreakBefore_IsNotAMarker()
    {
        var events = Split(Marker + "\n", Marker);

        Assert.Equal(["line:" + Marker], events);
    }

    [Fact]
    public void Write_SameMarkerTwice_MatchesOnlyOnce()
    {
        var events = Split(Wrapped + Wrapped.TrimStart('\n'), Marker);

        Assert.Equal(["marker", "line:" + Marker], events);
    }

    [Fact]
    public void Write_MarkerSetAfterOutputArrived_StillEndsThatOutput()
    {
        var splitter = new LogStreamSplitter(64);
        var sink = new RecordingSink();

        splitter.Write("loading\npart"u8, sink);
        splitter.SetMarker(Encoding.ASCII.GetBytes(Marker));
        splitter.Write(Encoding.ASCII.GetBytes("ial" + Wrapped), sink);

        Assert.Equal(["line:loading", "line:partial", "marker"], sink.Events);
    }

    [Fact]
    public void Write_LineLongerThanTheLimit_KeepsTheStartAndCountsAll()
    {
        var splitter = NewSplitter(8, null);
        var sink = new RecordingSink();

        splitter.Write(Encoding.ASCII.GetBytes(new string('x', 100) + "\nshort\n"), sink);

        Assert.Equal(["line:xxxxxxxx|100", "line:short"], sink.Events);
    }

    [Fact]
    public void Write_HugeLineThenMarker_StillFindsTheMarker()
    {
        var splitter = NewSplitter(Marker.Length, Marker);
        var sink = new RecordingSink();
        var chunk = Encoding.ASCII.GetBytes(new string('y', 4096));

        for (var i = 0; i < 256; i++)
        {
            splitter.Write(chunk, sink);
        }

        splitter.Write(Encoding.ASCII.GetBytes(Wrapped + "next\n"), sink);

        Assert.Equal([$"line:{new string('y', Marker.Length)}|1048576", "marker", "line:next"], sink.Events);
    }

    [Fact]
    public void Write_LongLineStartingWithTheMarker_IsNotAMarker()
    {
        var splitter = NewSplitter(Marker.Length, Marker);
        var sink = new RecordingSink();

        splitter.Write(Encoding.ASCII.GetBytes("\n" + Marker + "extra\n"), sink);

        Assert.Equal(["line:", $"line:{Marker}|{Marker.Length + 5}"], sink.Events);
    }

    [Fact]
    public void Write_CarriageReturnBeforeNewline_IsDropped()
    {
        var events = Split("dos\r\n\r\n");

        Assert.Equal(["line:dos", "line:"], events);
    }

    [Fact]
    public void SetMarker_WithLineBreak_Throws()
    {
        var splitter = new LogStreamSplitter(64);

        Assert.Throws<ArgumentException>(() => splitter.SetMarker("a\nb"u8));
    }

    [Fact]
    public void Complete_HeldBlankLineAtEndOfStream_IsEmitted()
    {
        var splitter = NewSplitter(64, Marker);
        var sink = new RecordingSink();

        splitter.Write("a\n\n"u8, sink);
        splitter.Complete(sink);

        Assert.Equal(["line:a", "line:"], sink.Events);
    }

    private static LogStreamSplitter NewSplitter(int maxLineBytes, string? marker)
    {
        var splitter = new LogStreamSplitter(maxLineBytes);
        if (marker is not null)
        {
            splitter.SetMarker(Encoding.ASCII.GetBytes(marker));
        }

        return splitter;
    }

    private static List<string> Split(string stream, string? marker = null)
    {
        var splitter = NewSplitter(64, marker);
        var sink = new RecordingSink();
        splitter.Write(Encoding.UTF8.GetBytes(stream), sink);
        return sink.Events;
    }

    private sealed class RecordingSink : ILogLineSink
    {
        public List<string> Events { get; } = [];

        public void OnLine(ReadOnlySpan<byte> kept, long totalBytes)
        {
            var text = Encoding.UTF8.GetString(kept);
            Events.Add(totalBytes == kept.Length ? $"line:{text}" : $"line:{text}|{totalBytes}");
        }

        public void OnMarker() => Events.Add("marker");
    }
}
