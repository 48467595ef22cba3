using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CrabLambda.PostgreSql;
using Npgsql;

namespace CrabLambda.Bench.Harness;

/// <summary>
/// The PostgreSQL server the benchmark stores into: one named on the command line (a user who may create
/// databases), or else a private server started from the local binaries in a temporary folder on a free loopback port,
/// stopped and deleted at the end. The private server keeps PostgreSQL's default durability (fsync and synchronous
/// commit on), as a production server would.
/// </summary>
internal sealed class PostgresCluster : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    private readonly List<string> _databases = [];
    private NpgsqlDataSource? _admin;
    private string? _adminConnectionString;
    private string? _folder;
    private string? _binFolder;
    private bool _runAsPostgresUser;

    /// <summary>What the benchmark runs against, for the report.</summary>
    public string Description { get; private set; } = "";

    public static async Task<PostgresCluster> StartAsync(string? existing)
    {
        var cluster = new PostgresCluster();
        try
        {
            cluster._adminConnectionString = existing is null
                ? await cluster.StartPrivateServerAsync()
                : PostgresConnectionString.Normalize(existing);
            cluster._admin = NpgsqlDataSource.Create(cluster._adminConnectionString);
            await using var command = cluster._admin.CreateCommand("SHOW server_version");
            var version = await command.ExecuteScalarAsync();
            cluster.Description = existing is null
                ? $"PostgreSQL {version}, private server on loopback, default durability"
                : $"PostgreSQL {version}, the server named by --postgres";
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates an empty database and returns its <c>postgresql://</c> URL.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "crablambda_bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var command = _admin!.CreateCommand($"CREATE DATABASE \"{name}\""))
        {
            await command.ExecuteNonQueryAsync();
        }

        lock (_databases)
        {
            _databases.Add(name);
        }

        var builder = new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = name };
        var password = string.IsNullOrEmpty(builder.Password) ? "" : ":" + Uri.EscapeDataString(builder.Password);
        return $"postgresql://{Uri.EscapeDataString(builder.Username!)}{password}@{builder.Host}:{builder.Port}/{name}";
    }

    public async ValueTask DisposeAsync()
    {
        if (_admin is not null)
        {
            if (_folder is null)
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
            var data = Path.Combine(_folder, "data");
            if (File.Exists(Path.Combine(data, "postmaster.pid")))
            {
                await RunToolAsync("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
            }

            Directory.Delete(_folder, recursive: true);
            _folder = null;
        }
    }

    private async Task<string> StartPrivateServerAsync()
    {
        _binFolder = FindBinFolder() ?? throw new InvalidOperationException(
            "PostgreSQL is needed for the PostgreSQL figures: initdb and pg_ctl were not found on PATH, through "
            + "pg_config, or in /usr/lib/postgresql/*/bin. Install the PostgreSQL server, or name a server with "
            + "--postgres, or leave PostgreSQL out with --no-postgres.");

        // initdb refuses to run as root, so root runs the server as the postgres system user.
        _runAsPostgresUser = Environment.IsPrivilegedProcess;
        var folder = Path.Combine(Path.GetTempPath(), "crablambda-bench-pg-" + Guid.NewGuid().ToString("N")[..12]);
        if (_runAsPostgresUser)
        {
            await RunAsync("runuser", ["-u", "postgres", "--", "mkdir", "-m", "700", folder]);
        }
        else
        {
            Directory.CreateDirectory(folder);
        }

        _folder = folder;
        var data = Path.Combine(folder, "data");
        await RunToolAsync("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"]);

        var port = FindFreePort();
        var options = $"-p {port} -c listen_addresses=127.0.0.1 -k {folder} -c max_connections=400";
        await RunToolAsync(
            "pg_ctl",
            ["-D", data, "-l", Path.Combine(folder, "server.log"), "-w", "-t", "120", "-o", options, "start"]);

        return new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = "postgres",
            Database = "postgres",
        }.ConnectionString;
    }

    private static string? FindBinFolder()
    {
        static bool HasTools(string folder) =>
            File.Exists(Path.Combine(folder, "initdb")) && File.Exists(Path.Combine(folder, "pg_ctl"));

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        var onPath = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(HasTools);
        if (onPath is not null)
        {
            return onPath;
        }

        const string DebianRoot = "/usr/lib/postgresql";
        return !Directory.Exists(DebianRoot)
            ? null
            : Directory.GetDirectories(DebianRoot)
                .Select(folder => Path.Combine(folder, "bin"))
                .Where(HasTools)
                .OrderDescending(StringComparer.Ordinal)
                .FirstOrDefault();
    }

    private static int FindFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Task RunToolAsync(string tool, IReadOnlyList<string> arguments)
    {
        var executable = Path.Combine(_binFolder!, tool);
        return _runAsPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", executable, .. arguments])
            : RunAsync(executable, arguments);
    }

    private static async Task RunAsync(string program, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} did not finish in time.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: "
                + $"{await error} {await output}".Trim());
        }
    }
}
