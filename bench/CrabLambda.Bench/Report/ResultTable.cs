using System.Globalization;
using System.Text;

namespace CrabLambda.Bench.Report;

/// <summary>
/// The rows of the run's table: each platform figure beside the floor it was measured with, their ratio and, where
/// there is one, the target the ratio should meet.
/// </summary>
internal sealed class ResultTable
{
    private readonly List<ResultRow> _rows = [];

    public IReadOnlyList<ResultRow> Rows => _rows;

    public void Add(ResultRow row)
    {
        lock (_rows)
        {
            _rows.Add(row);
        }
    }

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine("| figure | runtime | store | CrabLambda | floor | ratio | target | met |");
        text.AppendLine("| --- | --- | --- | ---: | --- | ---: | --- | --- |");
        foreach (var row in _rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {row.Figure} | {row.Runtime} | {row.Store} | {row.Value} | ")
                .Append(CultureInfo.InvariantCulture, $"{row.Floor} | {FormatRatio(row.Ratio)} | ")
                .Append(CultureInfo.InvariantCulture, $"{row.Target?.Text ?? ""} | {Verdict(row)} |")
                .AppendLine();
        }

        return text.ToString();
    }

    private static string FormatRatio(double? ratio) => ratio switch
    {
        null => "",
        { } value when double.IsNaN(value) || double.IsInfinity(value) => "n/a",
        { } value when value >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
        { } value when value >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
        { } value => value.ToString("0.00", CultureInfo.InvariantCulture),
    };

    private static string Verdict(ResultRow row)
    {
        if (row.Target is not { } target)
        {
            return "";
        }

        if (row.Ratio is not { } ratio || double.IsNaN(ratio))
        {
            return "not measured";
        }

        if (target.IsMet(ratio))
        {
            return "yes";
        }

        // How far off, as a factor of the target, so that "missed by 1.4×" reads the same for ≤ and ≥ targets.
        var factor = target.AtMost ? ratio / target.Bound : target.Bound / ratio;
        return string.Create(CultureInfo.InvariantCulture, $"**no** ({factor:0.0#}× off)");
    }
}

/// <summary>One row of the table.</summary>
/// <param name="Figure">What was measured.</param>
/// <param name="Runtime">The runtime, or a dash.</param>
/// <param name="Store">The store, or a dash.</param>
/// <param name="Value">CrabLambda's figure, with its unit.</param>
/// <param name="Floor">The floor's name and figure.</param>
/// <param name="Ratio">Figure ÷ floor, oriented as the target reads.</param>
/// <param name="Target">The target the ratio should meet, if any.</param>
internal sealed record ResultRow(
    string Figure,
    string Runtime,
    string Store,
    string Value,
    string Floor,
    double? Ratio,
    Target? Target = null);

/// <summary>A bound on a ratio: at most or at least <see cref="Bound"/>.</summary>
internal sealed record Target(bool AtMost, double Bound)
{
    public string Text => (AtMost ? "≤ " : "≥ ") + Bound.ToString("0.0#", CultureInfo.InvariantCulture);

    public bool IsMet(double ratio) => AtMost ? ratio <= Bound : ratio >= Bound;

    public static Target Max(double bound) => new(true, bound);

    public static Target Min(double bound) => new(false, bound);
}

/// <summary>Formats figures for the table.</summary>
internal static class Units
{
    public static string Ms(double milliseconds) => milliseconds switch
    {
        double.NaN => "n/a",
        >= 100 => milliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms",
        >= 10 => milliseconds.ToString("0.0", CultureInfo.InvariantCulture) + " ms",
        >= 1 => milliseconds.ToString("0.00", CultureInfo.InvariantCulture) + " ms",
        _ => milliseconds.ToString("0.000", CultureInfo.InvariantCulture) + " ms",
    };

    public static string PerSecond(double rate) =>
        rate.ToString(rate >= 100 ? "#,0" : "0.0", CultureInfo.InvariantCulture) + "/s";

    public static string Mb(double mib) => mib.ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

    public static string Count(long count) => count.ToString("#,0", CultureInfo.InvariantCulture);
}
