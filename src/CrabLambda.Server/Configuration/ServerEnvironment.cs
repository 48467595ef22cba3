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
    /// <exception cref="ServerConfigurationException">The <c>.env</c> file cannot be read or parsed.</exception>
    public static IReadOnlyDictionary<string, string?> Read(string directory)
    {
        var variables = new Dictionary<string, string?>(StringComparer.Ordinal);

        var file = Path.Combine(directory, FileName);
        if (File.Exists(file))
        {
            IEnumerable<KeyValuePair<string, string>> pairs;
            try
            {
                pairs = Env.NoEnvVars().Load(file).ToList();
            }
            catch (Sprache.ParseException e)
            {
                throw new ServerConfigurationException(
                    [$"{FileName} in {directory} is not a list of NAME=value lines: {e.Message}"]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ServerConfigurationException([$"{FileName} in {directory} cannot be read: {e.Message}"]);
            }

            foreach (var (name, value) in pairs)
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
