using CrabLambda.Hosting.Json;

namespace CrabLambda.Tests.Hosting;

public sealed class JsonNumbersTests
{
    [Theory]
    [InlineData("0", 0)]
    [InlineData("-0", 0)]
    [InlineData("0.000e5", 0)]
    [InlineData("7", 7)]
    [InlineData("-7", -7)]
    [InlineData("1e2", 100)]
    [InlineData("1E2", 100)]
    [InlineData("1e+2", 100)]
    [InlineData("100.000", 100)]
    [InlineData("1.50e1", 15)]
    [InlineData("1500e-2", 15)]
    [InlineData("2147483647", int.MaxValue)]
    [InlineData("-2147483648", int.MinValue)]
    [InlineData("2.147483647e9", int.MaxValue)]
    public void ParseWhole_WholeNumber_ReturnsIt(string text, int expected)
    {
        Assert.Equal(WholeNumber.Whole, JsonNumbers.ParseWhole(text, out var number));
        Assert.Equal(expected, number);
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("12.5")]
    [InlineData("15e-1")]
    [InlineData("1e-2")]
    [InlineData("100.0000000000000000000000000001")]
    [InlineData("1e-99999999999999999999")]
    public void ParseWhole_Fraction_SaysSo(string text)
    {
        Assert.Equal(WholeNumber.Fraction, JsonNumbers.ParseWhole(text, out _));
    }

    [Theory]
    [InlineData("2147483648")]
    [InlineData("-2147483649")]
    [InlineData("99999999999")]
    [InlineData("1e10")]
    [InlineData("1e400")]
    [InlineData("1e99999999999999999999")]
    [InlineData("123456789012345678901234567890")]
    public void ParseWhole_BeyondAnInt_SaysOutOfRange(string text)
    {
        Assert.Equal(WholeNumber.OutOfRange, JsonNumbers.ParseWhole(text, out _));
    }
}
