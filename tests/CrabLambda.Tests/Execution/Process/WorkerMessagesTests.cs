using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Runtimes;
using Moq;

namespace CrabLambda.Tests.Execution.Process;

public sealed class WorkerMessagesTests
{
    [Fact]
    public void ValidateEvent_Empty_IsAnEmptyObject()
    {
        var result = WorkerMessages.ValidateEvent(ReadOnlyMemory<byte>.Empty);

        Assert.Equal("{}", Encoding.UTF8.GetString(result.Span));
    }

    [Theory]
    [InlineData("{\"a\": 1}")]
    [InlineData("\"text\"")]
    [InlineData(" [1, 2] ")]
    [InlineData("null")]
    public void ValidateEvent_OneJsonValue_ReturnsItUnchanged(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);

        var result = WorkerMessages.ValidateEvent(bytes);

        Assert.Equal(json, Encoding.UTF8.GetString(result.Span));
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{} {}")]
    [InlineData("   ")]
    [InlineData("nope")]
    public void ValidateEvent_NotOneJsonValue_Throws(string json)
    {
        Assert.Throws<ArgumentException>(() => WorkerMessages.ValidateEvent(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void BuildInvoke_Event_IsCopiedByteForByteAfterALengthPrefix()
    {
        const string Event = "{ \"spaced\" :  [1,2.50,  \"\\u00e9\"] }";
        var version = ExecutorHarness.Deploy(Mock.Of<IRuntime>(r => r.Name == "python"), "code");
        var request = new ExecutionRequest(Guid.NewGuid(), "hello", version, Mock.Of<IRuntime>(), Array.Empty<byte>());

        var frame = WorkerMessages.BuildInvoke(request, Encoding.UTF8.GetBytes(Event), "m", 1234);

        var length = BinaryPrimitives.ReadUInt32BigEndian(frame.Span);
        Assert.Equal(frame.Length - 4, (int)length);
        var json = Encoding.UTF8.GetString(frame.Span[4..]);
        Assert.EndsWith("\"event\":" + Event + "}", json);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal("invoke", root.GetProperty("type").GetString());
        Assert.Equal(request.ExecutionId.ToString(), root.GetProperty("id").GetString());
        Assert.Equal(1234, root.GetProperty("deadline_ms").GetInt64());
        var context = root.GetProperty("context");
        Assert.Equal("hello", context.GetProperty("function_name").GetString());
        Assert.Equal(1, context.GetProperty("function_version").GetInt32());
        Assert.Equal(128, context.GetProperty("memory_limit_mb").GetInt32());
    }

    [Fact]
    public void BuildLoad_PathAndHandler_AreALoadMessageAfterALengthPrefix()
    {
        var frame = WorkerMessages.BuildLoad("/var/task/fünction \"1\".py", "handler");

        var length = BinaryPrimitives.ReadUInt32BigEndian(frame.Span);
        Assert.Equal(frame.Length - 4, (int)length);
        using var document = JsonDocument.Parse(frame[4..]);
        var root = document.RootElement;
        Assert.Equal("load", root.GetProperty("type").GetString());
        Assert.Equal("/var/task/fünction \"1\".py", root.GetProperty("code_path").GetString());
        Assert.Equal("handler", root.GetProperty("handler").GetString());
    }

    [Fact]
    public void Parse_SuccessfulResult_KeepsTheOutputTextAsWritten()
    {
        var message = Parse("{\"type\":\"result\",\"id\":\"x\",\"ok\":true,\"output\":{\"b\": [1, 2.0]}}");

        Assert.True(message.Ok);
        Assert.Equal("x", message.Id);
        Assert.Equal("{\"b\": [1, 2.0]}", message.Output);
    }

    [Fact]
    public void Parse_OutputOverTheLimit_IsOnlyMeasured()
    {
        var message = Parse("{\"type\":\"result\",\"id\":\"x\",\"ok\":true,\"output\":\"0123456789\"}", maxOutput: 5);

        Assert.True(message.Ok);
        Assert.Null(message.Output);
        Assert.Equal(12, message.OutputBytes);
    }

    [Fact]
    public void Parse_FailedResult_DescribesMessageAndTrace()
    {
        var message = Parse("{\"type\":\"result\",\"id\":\"x\",\"ok\":false,\"error\":\"E: boom\",\"trace\":\"at f\"}");

        Assert.False(message.Ok);
        Assert.Equal("E: boom\nat f", message.DescribeError());
    }

    [Fact]
    public void DescribeError_TraceStartingWithTheMessage_IsTheTraceAlone()
    {
        var message = new WorkerMessage(WorkerMessageType.Result, Error: "Error: boom", Trace: "Error: boom\n  at f\n");

        Assert.Equal("Error: boom\n  at f", message.DescribeError());
    }

    [Theory]
    [InlineData(64)]
    [InlineData(256)]
    public void Parse_OutputNestedUpTo256Levels_IsKept(int depth)
    {
        var output = Nested(depth);

        var message = Parse($$"""{"type":"result","id":"x","ok":true,"output":{{output}}}""", maxOutput: 1 << 20);

        Assert.True(message.Ok);
        Assert.Equal(output, message.Output);
    }

    [Theory]
    [InlineData(257)]
    [InlineData(1_000_000)]
    public void Parse_OutputNestedDeeperThan256Levels_IsAFailedResultSayingSo(int depth)
    {
        var json = $$"""{"type":"result","id":"x","ok":true,"output":{{Nested(depth)}}}""";

        var message = Parse(json, maxOutput: 1 << 24);

        Assert.Equal(WorkerMessageType.Result, message.Type);
        Assert.Equal("x", message.Id);
        Assert.False(message.Ok);
        Assert.Contains("output nested deeper than 256 levels", message.DescribeError());
    }

    [Theory]
    [InlineData("""{"type":"result","id":"x","ok":true,"extra":DEEP,"output":[1]}""")]
    [InlineData("""{"type":"result","id":"x","ok":false,"error":DEEP}""")]
    [InlineData("""{"type":"ready","output":DEEP}""")]
    public void Parse_DeeperThanAMessageMayNestOutsideAnOutput_Throws(string template)
    {
        var json = template.Replace("DEEP", Nested(300), StringComparison.Ordinal);

        var error = Assert.Throws<WorkerProtocolException>(() => Parse(json));

        Assert.Equal("A worker message is nested deeper than 257 levels.", error.Message);
    }

    [Fact]
    public void Parse_DeeplyNestedInvalidJson_IsNotAProtocolMessage()
    {
        var json = """{"type":"result","id":"x","ok":true,"output":""" + new string('[', 300);

        var error = Assert.Throws<WorkerProtocolException>(() => Parse(json));

        Assert.Equal("A worker message is not valid JSON.", error.Message);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1]")]
    [InlineData("{\"type\":\"dance\"}")]
    [InlineData("{\"type\":\"result\",\"ok\":true}")]
    public void Parse_NotAProtocolMessage_Throws(string json)
    {
        Assert.Throws<WorkerProtocolException>(() => Parse(json));
    }

    private static string Nested(int depth) => new string('[', depth) + new string(']', depth);

    private static WorkerMessage Parse(string json, long maxOutput = 1024) =>
        WorkerMessages.Parse(Encoding.UTF8.GetBytes(json), maxOutput);
}
