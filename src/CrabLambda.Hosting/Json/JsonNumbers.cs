using System.Globalization;

namespace CrabLambda.Hosting.Json;

/// <summary>What <see cref="JsonNumbers.ParseWhole"/> found.</summary>
internal enum WholeNumber
{
    /// <summary>A whole number that fits an <see cref="int"/>.</summary>
    Whole,

    /// <summary>A whole number beyond an <see cref="int"/>.</summary>
    OutOfRange,

    /// <summary>A number with a fraction.</summary>
    Fraction,
}

/// <summary>Reads JSON numbers exactly, from their text, without the rounding of a double or a decimal.</summary>
internal static class JsonNumbers
{
    // int.MaxValue has 10 digits, so a whole number of more digits is beyond it.
    private const int MaxIntDigits = 10;
    private const long ExponentBound = 1L << 40;

    /// <summary>
    /// Tells whether the text of a valid JSON number is a whole number and gives it when it fits an int: "1e2" is
    /// 100 and "1.50e1" is 15, "1.5" is a fraction.
    /// </summary>
    public static WholeNumber ParseWhole(string text, out int number)
    {
        number = 0;
        var negative = text.StartsWith('-');
        var unsigned = negative ? text.AsSpan(1) : text.AsSpan();

        var exponentAt = unsigned.IndexOfAny('e', 'E');
        var mantissa = exponentAt < 0 ? unsigned : unsigned[..exponentAt];
        var exponentText = exponentAt < 0 ? ReadOnlySpan<char>.Empty : unsigned[(exponentAt + 1)..];

        var pointAt = mantissa.IndexOf('.');
        var integerDigits = pointAt < 0 ? mantissa : mantissa[..pointAt];
        var fractionDigits = pointAt < 0 ? ReadOnlySpan<char>.Empty : mantissa[(pointAt + 1)..];
        var digits = (integerDigits.ToString() + fractionDigits.ToString()).TrimStart('0');
        if (digits.Length == 0)
        {
            return WholeNumber.Whole;
        }

        // The value is digits × 10^scale; trailing zeros of the digits move into the scale.
        var trimmed = digits.TrimEnd('0');
        var scale = (long)(digits.Length - trimmed.Length) - fractionDigits.Length;
        if (exponentText.Length > 0)
        {
            if (!long.TryParse(exponentText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exp))
            {
                // An exponent beyond a long: a huge number, or a tiny fraction.
                return exponentText[0] == '-' ? WholeNumber.Fraction : WholeNumber.OutOfRange;
            }

            // Any exponent this far out outweighs every digit a body can hold, and the sum cannot overflow.
            scale += Math.Clamp(exp, -ExponentBound, ExponentBound);
        }

        if (scale < 0)
        {
            return WholeNumber.Fraction;
        }

        if (trimmed.Length + scale > MaxIntDigits)
        {
            return WholeNumber.OutOfRange;
        }

        var value = long.Parse(trimmed, CultureInfo.InvariantCulture);
        for (var i = 0; i < scale; i++)
        {
            value *= 10;
        }

        value = negative ? -value : value;
        if (value is < int.MinValue or > int.MaxValue)
        {
            return WholeNumber.OutOfRange;
        }

        number = (int)value;
        return WholeNumber.Whole;
    }
}
