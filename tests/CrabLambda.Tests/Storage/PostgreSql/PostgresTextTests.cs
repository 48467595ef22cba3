using CrabLambda.PostgreSql;

namespace CrabLambda.Tests.Storage.PostgreSql;

public sealed class PostgresTextTests
{
    [Fact]
    public void Clean_OrdinaryText_ReturnsTheSameInstance()
    {
        const string text = "plain text with a pair 🦀 and ünïcødé";

        Assert.Same(text, PostgresText.Clean(text));
        Assert.Same(text, PostgresText.CleanJson(text));
        Assert.Null(PostgresText.Clean(null));
    }

    // Built in code rather than in attributes: the test runner cannot carry an unpaired surrogate in theory data.
    public static TheoryData<string, string> TextToClean { get; } = new()
    {
        { "a\0b", "a\uFFFDb" },
        { "lone \uD800 high", "lone \uFFFD high" },
        { "lone \uDC00 low", "lone \uFFFD low" },
        { "end \uD83E", "end \uFFFD" },
        { "pair \uD83E\uDD80 kept\0", "pair \uD83E\uDD80 kept\uFFFD" },
    };

    [Theory]
    [MemberData(nameof(TextToClean), DisableDiscoveryEnumeration = true)]
    public void Clean_NulOrUnpairedSurrogate_IsReplaced(string text, string expected)
    {
        Assert.Equal(expected, PostgresText.Clean(text));
    }

    [Theory]
    [InlineData("""{"a": "x\u0000y"}""", """{"a": "x\ufffdy"}""")]
    [InlineData("""["\ud800"]""", """["\ufffd"]""")]
    [InlineData("""["\udc00\ud800"]""", """["\ufffd\ufffd"]""")]
    [InlineData("""["\ud83e\udd80"]""", """["\ud83e\udd80"]""")]
    [InlineData("""["\ud83e\u0041"]""", """["\ufffd\u0041"]""")]
    [InlineData("""["\\u0000", "\"\u0000"]""", """["\\u0000", "\"\ufffd"]""")]
    [InlineData("""["\u00e9\n"]""", """["\u00e9\n"]""")]
    public void CleanJson_BadEscapes_AreReplacedAndOthersKept(string json, string expected)
    {
        Assert.Equal(expected, PostgresText.CleanJson(json));
    }
}
