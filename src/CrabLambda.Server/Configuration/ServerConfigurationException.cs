namespace CrabLambda.Server.Configuration;

/// <summary>
/// The server's configuration is wrong; the message names each bad variable and what is wrong with it.
/// </summary>
/// <param name="problems">One sentence per bad variable.</param>
public sealed class ServerConfigurationException(IReadOnlyList<string> problems)
    : Exception("The server's configuration is invalid:" + string.Concat(problems.Select(p => "\n  " + p)))
{
    /// <summary>One sentence per bad variable, each starting with the variable's name.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
