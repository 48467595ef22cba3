namespace CrabLambda.Tests;

public sealed class CrabLambdaOptionsValidatorTests
{
    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(10_000, true)]
    [InlineData(1_000_000, true)]
    [InlineData(1_000_001, false)]
    public void Validate_MaxLogLinesPerExecution_AcceptsOneToAMillion(int lines, bool valid)
    {
        var options = new CrabLambdaOptions { MaxLogLinesPerExecution = lines };

        var result = new CrabLambdaOptionsValidator().Validate(null, options);

        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("MaxLogLinesPerExecution must be between 1 and 1000000.", result.FailureMessage);
        }
    }

    [Fact]
    public void MaxLogLinesPerExecution_Default_IsTenThousand() =>
        Assert.Equal(10_000, new CrabLambdaOptions().MaxLogLinesPerExecution);
}
