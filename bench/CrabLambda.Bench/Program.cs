using System.CommandLine;
using CrabLambda.Bench;
using CrabLambda.Bench.Serve;

// `serve` is how the benchmark starts its servers in processes of their own; a person runs the root command.
if (args is ["serve", ..])
{
    return await BenchServer.RunAsync();
}

var quick = new Option<bool>("--quick")
{
    Description =
        "A shorter run (about two minutes): fewer and shorter rounds, 100,000 records for the history figure.",
};
var isolation = new Option<string>("--isolation")
{
    Description = "ISOLATION of the servers: auto, none or sandbox. Cold starts are measured with the sandbox as well.",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ISOLATION") is { Length: > 0 } value
        ? value.ToLowerInvariant()
        : "auto",
};
isolation.AcceptOnlyFromAmong("auto", "none", "sandbox");
var postgres = new Option<string?>("--postgres")
{
    Description = "A PostgreSQL server to use (a postgresql:// URL of a user who may create databases) instead of "
        + "starting a private one from the local binaries.",
};
var noPostgres = new Option<bool>("--no-postgres") { Description = "Measure on SQLite only." };
var output = new Option<string?>("--output") { Description = "Also write the report to this Markdown file." };
var only = new Option<string[]>("--only")
{
    Description = "Measure only these groups of figures (one or more of " + string.Join(", ", BenchSettings.Groups)
        + "); the servers are started and warmed up as in a full run.",
    AllowMultipleArgumentsPerToken = true,
};
only.AcceptOnlyFromAmong([.. BenchSettings.Groups]);

var root = new RootCommand(
    "Measures CrabLambda beside its floors in one run and prints one table with the ratios. Run it with "
    + "-c Release on an otherwise idle machine.")
{
    quick,
    isolation,
    postgres,
    noPostgres,
    output,
    only,
};
root.SetAction(async (parse, _) =>
{
    var settings = new BenchSettings
    {
        Quick = parse.GetValue(quick),
        Isolation = parse.GetValue(isolation)!,
        Postgres = parse.GetValue(postgres),
        WithPostgres = !parse.GetValue(noPostgres),
        Only = (parse.GetValue(only) ?? []).ToHashSet(StringComparer.Ordinal),
    };
    return await BenchRun.RunAsync(settings, parse.GetValue(output));
});

return await root.Parse(args).InvokeAsync();
