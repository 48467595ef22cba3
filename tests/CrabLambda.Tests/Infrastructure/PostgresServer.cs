using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CrabLambda.PostgreSql;
using Npgsql;

namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// Puts the tests that need PostgreSQL in one collection, sharing one <see cref="PostgresServer"/>.
/// </summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    /// <summary>The collection name for <c>[Collection(PostgresCollection.Name)]</c>.</summary>
    public const string Name = "PostgreSQL";
}

/// <summary>
/// A PostgreSQL server for tests: the one named by <c>CRABLAMBDA_TEST_POSTGRES</c> (a connection string or URL whose
/// user may create databases), or else a private server started from the local PostgreSQL binaries in a temporary
/// folder on a free loopback port, stopped and deleted at the end. When neither can be had, every test that uses it
/// fails with the reason; it never skips.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    /// <summary>The variable that names an existing server.</summary>
    public const string EnvironmentVariable = "CRABLAMBDA_TEST_POSTGRES";

    private static readonly TimeSpan _commandTimeout = TimeSpan.FromMinutes(2);

    private readonly List<string> _databases = [];
    private NpgsqlDataSource? _admin;
    private string? _adminConnectionString;
    private string? _folder;
    private string? _binFolder;
    private string? _serverOptions;
    private bool _runAsPostgresUser;
    private bool _privateOnly;

    /// <summary>Whether the server is one this fixture started, rather than an existing one.</summary>
    public bool IsPrivate => _folder is not null;

    /// <summary>
    /// Starts a server of the test's own from the local PostgreSQL binaries, whatever
    /// <see cref="EnvironmentVariable"/> says, so that the test may stop and start it; dispose it at the end.
    /// </summary>
    /// <returns>The started server.</returns>
    public static async Task<PostgresServer> StartPrivateAsync()
    {
        var server = new PostgresServer { _privateOnly = true };
        await server.InitializeAsync();
        return server;
    }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var configured = _privateOnly ? null : Environment.GetEnvironmentVariable(EnvironmentVariable);
        try
        {
            _adminConnectionString = string.IsNullOrWhiteSpace(configured)
                ? await StartPrivateServerAsync()
                : PostgresConnectionString.Normalize(configured);

            _admin = NpgsqlDataSource.Create(_adminConnectionString);
            await using var command = _admin.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync();
        }
        catch (Exception exception)
        {
            var source = string.IsNullOrWhiteSpace(configured)
                ? "no server is configured and starting a private one from the local PostgreSQL binaries failed"
                : $"the server named by {EnvironmentVariable} did not answer";
            await DisposeAsync();
            throw new InvalidOperationException(
                $"PostgreSQL is required for these tests, but {source}: {exception.Message.TrimEnd('.')}. "
                + $"Set {EnvironmentVariable} to a connection string or postgresql:// URL of a user who may create "
                + "databases, or install the PostgreSQL server (initdb and pg_ctl on PATH).",
                exception);
        }
    }

    /// <summary>
    /// Creates an empty database with a unique name and returns its connection string, so that a test sees no other
    /// test's data.
    /// </summary>
    /// <returns>An Npgsql connection string for the new database.</returns>
    public async Task<string> CreateDatabaseAsync()
    {
        if (_admin is null || _adminConnectionString is null)
        {
            throw new InvalidOperationException("The PostgreSQL server did not start; see the fixture's error.");
        }

        var name = "crablambda_test_" + Guid.NewGuid().ToString("N");
        await using (var command = _admin.CreateCommand($"CREATE DATABASE \"{name}\""))
        {
            await command.ExecuteNonQueryAsync();
        }

        lock (_databases)
        {
            _databases.Add(name);
        }

        return new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>
    /// Creates an empty database as <see cref="CreateDatabaseAsync"/> does and returns it as the
    /// <c>postgresql://</c> URL an operator gives the server in <c>DATABASE_URL</c>.
    /// </summary>
    /// <returns>A <c>postgresql://user[:password]@host:port/database</c> URL.</returns>
    public async Task<string> CreateDatabaseUrlAsync()
    {
        var connection = new NpgsqlConnectionStringBuilder(await CreateDatabaseAsync());
        var password = string.IsNullOrEmpty(connection.Password) ? "" : ":" + Uri.EscapeDataString(connection.Password);
        return $"postgresql://{Uri.EscapeDataString(connection.Username!)}{password}@{connection.Host}:"
            + $"{connection.Port}/{connection.Database}";
    }

    /// <summary>
    /// Stops a private server the way an operator's <c>pg_ctl stop</c> does (fast mode: open connections are
    /// terminated), keeping its data for <see cref="RestartAsync"/>.
    /// </summary>
    public Task StopAsync() =>
        RunPostgresToolAsync("pg_ctl", ["-D", DataFolder(), "-m", "fast", "-w", "stop"]);

    /// <summary>Starts a private server stopped by <see cref="StopAsync"/> again, on the same port.</summary>
    public async Task RestartAsync()
    {
        await StartServerAsync();

        // The fixture's own pooled connections were terminated with the server.
        _admin?.Clear();
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_admin is not null)
        {
            // On a server of our own everything goes with the folder; on a shared one each database is dropped.
            if (!IsPrivate)
            {
                foreach (var name in _databases)
                {
                    await using var command = _admin.CreateCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    await command.ExecuteNonQueryAsync();
                }
            }

            await _admin.DisposeAsync();
            _admin = null;
        }

        if (_folder is not null)
        {
            var dataFolder = Path.Combine(_folder, "data");
            if (File.Exists(Path.Combine(dataFolder, "postmaster.pid")))
            {
                await RunPostgresToolAsync("pg_ctl", ["-D", dataFolder, "-m", "immediate", "-w", "stop"]);
            }

            Directory.Delete(_folder, recursive: true);
            _folder = null;
        }
    }

    private async Task<string> StartPrivateServerAsync()
    {
        _binFolder = FindBinFolder() ?? throw new InvalidOperationException(
            "initdb and pg_ctl were not found on PATH, through pg_config, or in /usr/lib/postgresql/*/bin.");

        // initdb refuses to run as root, so root runs the server as the postgres system user.
        _runAsPostgresUser = Environment.IsPrivilegedProcess;

        var folder = Path.Combine(Path.GetTempPath(), "crablambda-pg-" + Guid.NewGuid().ToString("N")[..12]);
        if (_runAsPostgresUser)
        {
            await RunAsync("runuser", ["-u", "postgres", "--", "mkdir", "-m", "700", folder]);
        }
        else
        {
            Directory.CreateDirectory(folder);
        }

        _folder = folder;
        var dataFolder = Path.Combine(folder, "data");
        await RunPostgresToolAsync(
            "initdb",
            ["-D", dataFolder, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);

        // A throwaway server: durability settings off make creating a database per test cheap.
        var port = FindFreePort();
        _serverOptions = $"-p {port} -c listen_addresses=127.0.0.1 -k {folder} -c max_connections=200 "
            + "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";
        await StartServerAsync();

        return new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = "postgres",
            Database = "postgres",
        }.ConnectionString;
    }

    private string DataFolder() => Path.Combine(
        _folder ?? throw new InvalidOperationException("Only a private server can be stopped and started."),
        "data");

    private Task StartServerAsync() => RunPostgresToolAsync(
        "pg_ctl",
        ["-D", DataFolder(), "-l", Path.Combine(_folder!, "server.log"), "-w", "-t", "120", "-o", _serverOptions!,
            "start"]);

    private static string? FindBinFolder()
    {
        static bool HasTools(string folder) =>
            File.Exists(Path.Combine(folder, "initdb")) && File.Exists(Path.Combine(folder, "pg_ctl"));

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var folder in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            if (HasTools(folder))
            {
                return folder;
            }
        }

        var fromPgConfig = TryRun("pg_config", "--bindir");
        if (fromPgConfig is not null && HasTools(fromPgConfig))
        {
            return fromPgConfig;
        }

        // Debian and Ubuntu keep the server binaries off PATH, one folder per major version.
        const string debianRoot = "/usr/lib/postgresql";
        if (!Directory.Exists(debianRoot))
        {
            return null;
        }

        return Directory.GetDirectories(debianRoot)
            .Select(folder => (Folder: Path.Combine(folder, "bin"), Version: int.TryParse(
                Path.GetFileName(folder),
                out var version) ? version : 0))
            .Where(candidate => HasTools(candidate.Folder))
            .OrderByDescending(candidate => candidate.Version)
            .Select(candidate => candidate.Folder)
            .FirstOrDefault();
    }

    private static string? TryRun(string fileName, string argument)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(fileName, argument)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static int FindFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Task RunPostgresToolAsync(string tool, IReadOnlyList<string> arguments)
    {
        var executable = Path.Combine(_binFolder!, tool);
        return _runAsPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", executable, .. arguments])
            : RunAsync(executable, arguments);
    }

    private static async Task RunAsync(string fileName, IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)
            ?? throw new InvalidOperationException($"{fileName} could not be started.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(_commandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} did not finish in time.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', arguments)} exited with {process.ExitCode}: "
                + $"{await error} {await output}".Trim());
        }
    }
}
