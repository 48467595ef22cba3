using System.Reflection;
using DbUp.Builder;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Storage;

/// <summary>
/// Applies a store's embedded migration scripts with DbUp, the one installer that production and tests both call.
/// </summary>
internal static class SchemaMigrations
{
    /// <summary>
    /// Runs every script under <paramref name="resourcePrefix"/> that the journal has not recorded yet, each in its own
    /// transaction, in name order.
    /// </summary>
    /// <param name="builder">DbUp's builder for the engine, already pointed at the database.</param>
    /// <param name="assembly">The assembly that embeds the scripts.</param>
    /// <param name="resourcePrefix">The resource name prefix of the scripts, ending with a dot.</param>
    /// <param name="engineName">The engine's name, for the error message.</param>
    /// <param name="logger">Receives DbUp's progress messages.</param>
    /// <returns>How many scripts ran.</returns>
    /// <exception cref="InvalidOperationException">A script failed; the inner exception is the database's error.
    /// </exception>
    public static int Apply(
        UpgradeEngineBuilder builder,
        Assembly assembly,
        string resourcePrefix,
        string engineName,
        ILogger logger)
    {
        // Variables stay off so that a '$' in a script (PostgreSQL dollar quoting) is never rewritten.
        var engine = builder
            .WithScriptsEmbeddedInAssembly(
                assembly,
                name => name.StartsWith(resourcePrefix, StringComparison.Ordinal)
                    && name.EndsWith(".sql", StringComparison.Ordinal))
            .WithVariablesDisabled()
            .WithTransactionPerScript()
            .ResetConfiguredLoggers()
            .LogTo(logger)
            .Build();

        var result = engine.PerformUpgrade();

        if (!result.Successful)
        {
            var script = result.ErrorScript?.Name ?? "(none)";
            throw new InvalidOperationException(
                $"Migrating the {engineName} database failed in script '{script}': {result.Error?.Message}",
                result.Error);
        }

        return result.Scripts.Count();
    }
}
