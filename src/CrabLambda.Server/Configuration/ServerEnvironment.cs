using DotNetEnv;

namespace CrabLambda.Server.Configuration;

/// <summary>
/// Collects the server's configuration variables: a <c>.env</c> file in the working directory when there is one,
/// overridden by the real environment.
/// </summary>
public static class ServerEnvironment
{
    /// <summary>The name of the optional file of variables in the working directory.</summary>
    public const string FileName = ".env";

    /// <summary>
    /// Reads the variables of <paramref name="directory"/>'s <c>.env</c> file, if it exists, and of the process
    /// environment, which wins. The process environment is not changed.
    /// </summary>
    /// <param name="directory">The directory to look for <c>.env</c> in, normally the working directory.</param>
    public static IReadOnlyDictionary<string, string?> Read(string directory)
    {
        var variables = new Dictionary<string, string?>(StringComparer.Ordinal);

        var file = Path.Combine(directory, FileName);
        if (File.Exists(file))
        {
            foreach (var (name, value) in Env.NoEnvVars().Load(file))
            {
                variables[name] = value;
            }
        }

        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            variables[(string)entry.Key] = (string?)entry.Value;
        }

        return variables;
    }
}
