using System.Globalization;
using System.Net;
using CrabLambda.Execution.Sandbox;

namespace CrabLambda.Server.Configuration;

/// <summary>
/// The standalone server's settings, parsed from its environment variables. Every variable has a default, so a
/// server with no configuration at all runs on port 8080 with a SQLite file in the working directory.
/// </summary>
public sealed record ServerSettings
{
    /// <summary>The largest <c>MAX_FUNCTION_SIZE_MB</c> accepted: a create body can be six times as large.</summary>
    public const int MaxFunctionSizeCeilingMb = 100;

    // The end of the shutdown timeout kept for stopping the executions still running, recording and answering them.
    private const double ShutdownReserveSecs = 5;

    /// <summary>Storage: <c>DATABASE_URL</c>.</summary>
    public required DatabaseSettings Database { get; init; }

    /// <summary>The address to listen on: <c>SERVER_HOST</c>, default <c>0.0.0.0</c>.</summary>
    public required IPAddress Host { get; init; }

    /// <summary>The port to listen on: <c>SERVER_PORT</c>, default 8080; 0 picks a free port.</summary>
    public required int Port { get; init; }

    /// <summary>The largest code accepted, in MiB: <c>MAX_FUNCTION_SIZE_MB</c>, default 10.</summary>
    public required int MaxFunctionSizeMb { get; init; }

    /// <summary>The memory of a function that names none: <c>DEFAULT_MEMORY_MB</c>, default 128.</summary>
    public required int DefaultMemoryMb { get; init; }

    /// <summary>The timeout of a function that names none: <c>DEFAULT_TIMEOUT_SECS</c>, default 30.</summary>
    public required int DefaultTimeoutSecs { get; init; }

    /// <summary>The largest timeout accepted: <c>MAX_TIMEOUT_SECS</c>, default 300, at most 900.</summary>
    public required int MaxTimeoutSecs { get; init; }

    /// <summary>Executions running at once: <c>MAX_CONCURRENT_EXECUTIONS</c>, default 100.</summary>
    public required int MaxConcurrentExecutions { get; init; }

    /// <summary>Days executions and their logs are kept: <c>EXECUTION_LOG_RETENTION_DAYS</c>, default 30.</summary>
    public required int ExecutionLogRetentionDays { get; init; }

    /// <summary>Whether every <c>/api</c> route needs the key: <c>ENABLE_AUTH</c>, default false.</summary>
    public required bool EnableAuth { get; init; }

    /// <summary>The API key: <c>API_KEY</c>, required when <see cref="EnableAuth"/> is on.</summary>
    public required string? ApiKey { get; init; }

    /// <summary>How workers run: <c>EXECUTOR</c>, default <c>process</c>.</summary>
    public required ExecutorKind Executor { get; init; }

    /// <summary>How process workers are isolated: <c>ISOLATION</c>, default <c>auto</c>.</summary>
    public required IsolationMode Isolation { get; init; }

    /// <summary>Whether functions may use the network unless they say otherwise: <c>FUNCTION_NETWORK</c>.</summary>
    public required bool FunctionNetwork { get; init; }

    /// <summary>
    /// Generic workers kept started ahead per runtime by the process executor: <c>PRESTARTED_WORKERS</c>, default 2;
    /// 0 turns them off.
    /// </summary>
    public int PrestartedWorkers { get; init; } = 2;

    /// <summary>
    /// Idle warm workers kept across the server, the least recently used stopped past it: <c>MAX_IDLE_WORKERS</c>,
    /// default 32; 0 keeps none.
    /// </summary>
    public int MaxIdleWorkers { get; init; } = 32;

    /// <summary>
    /// How long the server may take to stop after SIGTERM or Ctrl-C: <c>SHUTDOWN_TIMEOUT_SECS</c>, default 30.
    /// Running executions get <see cref="ShutdownGrace"/> of it to finish.
    /// </summary>
    public int ShutdownTimeoutSecs { get; init; } = 30;

    /// <summary>
    /// The part of <see cref="ShutdownTimeoutSecs"/> that running executions get to finish: all but the last 5 s (the
    /// last half of a timeout under 10 s), which are left for stopping the rest, recording and answering them.
    /// </summary>
    public TimeSpan ShutdownGrace =>
        TimeSpan.FromSeconds(ShutdownTimeoutSecs - Math.Min(ShutdownReserveSecs, ShutdownTimeoutSecs / 2.0));

    /// <summary>The Docker engine for <c>EXECUTOR=docker</c>: <c>DOCKER_HOST</c>.</summary>
    public required string DockerHost { get; init; }

    /// <summary>Images per runtime for <c>EXECUTOR=docker</c>, from <c>DOCKER_IMAGE_&lt;RUNTIME&gt;</c>.</summary>
    public required IReadOnlyDictionary<string, string> DockerImages { get; init; }

    /// <summary>The Python interpreter of process workers (<c>CRABLAMBDA_PYTHON</c>), or null.</summary>
    public string? PythonInterpreter { get; init; }

    /// <summary>The Node.js interpreter of process workers (<c>CRABLAMBDA_NODE</c>), or null.</summary>
    public string? NodeInterpreter { get; init; }

    /// <summary>
    /// Parses the variables. Unset and empty variables take their defaults.
    /// </summary>
    /// <param name="variables">The environment, for example from <see cref="ServerEnvironment.Read"/>.</param>
    /// <exception cref="ServerConfigurationException">A variable is invalid; the message names each one.</exception>
    public static ServerSettings Parse(IReadOnlyDictionary<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);

        var reader = new VariableReader(variables);

        var maxTimeout = reader.Integer("MAX_TIMEOUT_SECS", 300, 1, 900);
        var settings = new ServerSettings
        {
            Database = reader.Database("DATABASE_URL", "sqlite:crablambda.db"),
            Host = reader.Address("SERVER_HOST", IPAddress.Any),
            Port = reader.Integer("SERVER_PORT", 8080, 0, 65535),
            MaxFunctionSizeMb = reader.Integer("MAX_FUNCTION_SIZE_MB", 10, 1, MaxFunctionSizeCeilingMb),
            DefaultMemoryMb = reader.Integer("DEFAULT_MEMORY_MB", 128, 1, 10240),
            DefaultTimeoutSecs = reader.Integer("DEFAULT_TIMEOUT_SECS", 30, 1, maxTimeout, "MAX_TIMEOUT_SECS"),
            MaxTimeoutSecs = maxTimeout,
            MaxConcurrentExecutions = reader.Integer("MAX_CONCURRENT_EXECUTIONS", 100, 1, 10000),
            ExecutionLogRetentionDays = reader.Integer("EXECUTION_LOG_RETENTION_DAYS", 30, 1, 36500),
            EnableAuth = reader.Boolean("ENABLE_AUTH", false),
            ApiKey = reader.Text("API_KEY"),
            Executor = reader.Choice("EXECUTOR", ExecutorKind.Process),
            Isolation = reader.Choice("ISOLATION", IsolationMode.Auto),
            FunctionNetwork = reader.Boolean("FUNCTION_NETWORK", false),
            PrestartedWorkers = reader.Integer("PRESTARTED_WORKERS", 2, 0, 16),
            MaxIdleWorkers = reader.Integer("MAX_IDLE_WORKERS", 32, 0, 10000),
            ShutdownTimeoutSecs = reader.Integer("SHUTDOWN_TIMEOUT_SECS", 30, 1, 3600),
            DockerHost = reader.Text("DOCKER_HOST") ?? "unix:///var/run/docker.sock",
            DockerImages = reader.WithPrefix("DOCKER_IMAGE_"),
            PythonInterpreter = reader.Program("CRABLAMBDA_PYTHON"),
            NodeInterpreter = reader.Program("CRABLAMBDA_NODE"),
        };

        if (settings.EnableAuth && settings.ApiKey is null)
        {
            reader.Problem("ENABLE_AUTH is true but API_KEY is not set: set API_KEY to the key clients must send.");
        }

        if (!IsDockerEndpoint(settings.DockerHost))
        {
            reader.Problem(
                $"DOCKER_HOST must be a unix:///path or tcp://host:port address, not '{settings.DockerHost}'.");
        }

        reader.ThrowIfInvalid();
        return settings;
    }

    private static bool IsDockerEndpoint(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "unix" or "tcp" or "http";

    /// <summary>Copies the engine's settings onto <see cref="CrabLambdaOptions"/>.</summary>
    /// <param name="options">The options <c>AddCrabLambda</c> configures.</param>
    public void Apply(CrabLambdaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        options.MaxFunctionSizeMb = MaxFunctionSizeMb;
        options.DefaultMemoryMb = DefaultMemoryMb;
        options.DefaultTimeoutSecs = DefaultTimeoutSecs;
        options.MaxTimeoutSecs = MaxTimeoutSecs;
        options.MaxConcurrentExecutions = MaxConcurrentExecutions;
        options.ExecutionLogRetentionDays = ExecutionLogRetentionDays;
        options.DefaultNetwork = FunctionNetwork;
        options.PrestartedWorkersPerRuntime = PrestartedWorkers;
        options.MaxIdleWorkers = MaxIdleWorkers;
        options.ShutdownGrace = ShutdownGrace;
        options.Isolation = Isolation;
    }

    /// <summary>Reads variables and collects what is wrong with them.</summary>
    private sealed class VariableReader(IReadOnlyDictionary<string, string?> variables)
    {
        private readonly List<string> _problems = [];

        public void Problem(string message) => _problems.Add(message);

        public void ThrowIfInvalid()
        {
            if (_problems.Count > 0)
            {
                throw new ServerConfigurationException(_problems);
            }
        }

        public string? Text(string name) =>
            variables.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

        public int Integer(string name, int fallback, int min, int max, string? maxName = null)
        {
            var text = Text(name);
            if (text is null)
            {
                return fallback;
            }

            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
                && value >= min
                && value <= max)
            {
                return value;
            }

            var bound = maxName is null ? $"{max}" : $"{max} ({maxName})";
            Problem($"{name}={text} is not valid: it must be a whole number from {min} to {bound}.");
            return fallback;
        }

        public bool Boolean(string name, bool fallback)
        {
            var text = Text(name);
            switch (text?.ToLowerInvariant())
            {
                case null:
                    return fallback;
                case "true" or "1" or "yes" or "on":
                    return true;
                case "false" or "0" or "no" or "off":
                    return false;
                default:
                    Problem(
                        $"{name}={text} is not valid: it must be true or false (also 1 or 0, yes or no, on or off).");
                    return fallback;
            }
        }

        public TEnum Choice<TEnum>(string name, TEnum fallback)
            where TEnum : struct, Enum
        {
            var text = Text(name);
            if (text is null)
            {
                return fallback;
            }

            var choices = Enum.GetNames<TEnum>().Select(n => n.ToLowerInvariant()).ToArray();
            if (choices.Contains(text.ToLowerInvariant()))
            {
                return Enum.Parse<TEnum>(text, ignoreCase: true);
            }

            Problem($"{name}={text} is not valid: it must be one of {string.Join(", ", choices)}.");
            return fallback;
        }

        public IPAddress Address(string name, IPAddress fallback)
        {
            var text = Text(name);
            if (text is null)
            {
                return fallback;
            }

            if (string.Equals(text, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                return IPAddress.Loopback;
            }

            if (IPAddress.TryParse(text, out var address))
            {
                return address;
            }

            Problem(
                $"{name}={text} is not valid: it must be an IP address such as 0.0.0.0 (every interface), "
                    + "127.0.0.1 or ::, or localhost.");
            return fallback;
        }

        public DatabaseSettings Database(string name, string fallback)
        {
            var text = Text(name) ?? fallback;
            if (DatabaseSettings.TryParse(text, out var database, out var problem))
            {
                return database;
            }

            Problem($"{name} is not valid: {problem}");
            return DatabaseSettings.Parse(fallback);
        }

        /// <summary>A program named by path or looked up on <c>PATH</c>; it must exist and be executable.</summary>
        public string? Program(string name)
        {
            var value = Text(name);
            if (value is null)
            {
                return null;
            }

            if (FindProgram(value) is null)
            {
                Problem($"{name}={value} is not an executable program (an absolute path, or a name on PATH).");
            }

            return value;
        }

        private static string? FindProgram(string program)
        {
            var candidates = program.Contains('/', StringComparison.Ordinal)
                ? [Path.GetFullPath(program)]
                : (Environment.GetEnvironmentVariable("PATH") ?? "")
                    .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                    .Select(folder => Path.Combine(folder, program));
            return candidates.FirstOrDefault(IsExecutable);
        }

        private static bool IsExecutable(string path) =>
            File.Exists(path)
            && (OperatingSystem.IsWindows()
                || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute
                    | UnixFileMode.OtherExecute)) != 0);

        public IReadOnlyDictionary<string, string> WithPrefix(string prefix)
        {
            var found = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, _) in variables)
            {
                if (name.StartsWith(prefix, StringComparison.Ordinal)
                    && name.Length > prefix.Length
                    && Text(name) is { } value)
                {
                    found[name[prefix.Length..].ToLowerInvariant()] = value;
                }
            }

            return found;
        }
    }
}

/// <summary>How the server runs workers.</summary>
public enum ExecutorKind
{
    /// <summary>Workers are local processes.</summary>
    Process,

    /// <summary>Workers run in containers of a Docker engine.</summary>
    Docker,
}
