using System.ComponentModel;
using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using CrabLambda.Functions;
using CrabLambda.Runtimes;

namespace CrabLambda.Samples.Ruby;

/// <summary>
/// Runs Ruby functions. The handler names a top-level method taking <c>(event)</c> or <c>(event, context)</c>; its
/// return value is the output, <c>puts</c> writes info log lines and <c>warn</c> error log lines.
/// </summary>
/// <remarks>
/// A plug-in needs nothing but <see cref="IRuntime"/>: it checks code at deploy time and names a worker program
/// that speaks the worker protocol. Here the worker is <c>bootstrap.rb</c>, shipped inside this assembly. The
/// executor starts, limits, times out and kills it exactly as it does the built-in runtimes' workers.
/// </remarks>
public sealed partial class RubyRuntime : IRuntime
{
    /// <summary>The environment variable that names the Ruby interpreter; default <c>ruby</c> on PATH.</summary>
    public const string InterpreterVariable = "CRABLAMBDA_RUBY";

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _probeGate = new(1, 1);
    private readonly Lazy<byte[]> _bootstrap = new(ReadBootstrap);
    private Installation? _installation;

    /// <inheritdoc/>
    public string Name => "ruby";

    /// <inheritdoc/>
    public IReadOnlyCollection<string> Aliases { get; } = ["rb"];

    /// <inheritdoc/>
    public string? ValidateHandler(string handler) =>
        MethodName().IsMatch(handler)
            ? null
            : $"The handler '{handler}' is not a Ruby method name: name a top-level method, such as 'handler'.";

    /// <summary>
    /// Refuses code that does not parse, with Ruby's own message (<c>ruby -c</c>, which parses without running
    /// anything), so that a typo is a 422 at deploy time rather than an error on every invoke.
    /// </summary>
    /// <param name="version">The version about to be stored.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <exception cref="FunctionCodeException">The code does not parse.</exception>
    public async Task PrepareAsync(FunctionVersion version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);

        var ruby = await GetInstallationAsync(cancellationToken).ConfigureAwait(false);
        var result = await RunAsync(ruby.Executable, ["--disable-gems", "-c", "-"], version.Code, cancellationToken)
            .ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            // Ruby names standard input "-"; "line 3: syntax error …" reads better in an API answer.
            throw new FunctionCodeException("The Ruby code does not parse:\n" + result.Error.Replace("-:", "line "));
        }
    }

    /// <inheritdoc/>
    public async Task<WorkerLaunch> GetLaunchAsync(
        FunctionVersion version,
        string codeDirectory,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);

        var ruby = await GetInstallationAsync(cancellationToken).ConfigureAwait(false);
        var bootstrap = Path.Combine(codeDirectory, "bootstrap.rb");
        var code = Path.Combine(codeDirectory, "function.rb");
        WriteOnce(bootstrap, _bootstrap.Value);
        WriteOnce(code, Encoding.UTF8.GetBytes(version.Code));

        // --disable-gems: only the standard library, which starts faster and needs nothing outside Ruby's own
        // installation, the one folder a sandbox is asked to show.
        return new WorkerLaunch(ruby.Executable, ["--disable-gems", bootstrap, code, version.Handler])
        {
            Environment = new Dictionary<string, string> { ["RUBYOPT"] = "" },
            ReadOnlyPaths = [ruby.Prefix],
            ContainerExecutable = "ruby",
        };
    }

    private async Task<Installation> GetInstallationAsync(CancellationToken cancellationToken)
    {
        if (_installation is { } known)
        {
            return known;
        }

        await _probeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_installation is { } probed)
            {
                return probed;
            }

            // Asking Ruby for its own path sees through a version manager's shim on PATH to the real interpreter.
            var ruby = Environment.GetEnvironmentVariable(InterpreterVariable) ?? "ruby";
            var result = await RunAsync(
                ruby,
                ["--disable-gems", "-rrbconfig", "-e", "print RbConfig.ruby, \"\\n\", RbConfig::CONFIG[\"prefix\"]"],
                input: "",
                cancellationToken).ConfigureAwait(false);
            var lines = result.Output.Split('\n');
            if (result.ExitCode != 0 || lines.Length != 2)
            {
                throw new InvalidOperationException($"'{ruby}' could not tell where it is installed: {result.Error}");
            }

            _installation = new Installation(lines[0], lines[1]);
            return _installation;
        }
        finally
        {
            _probeGate.Release();
        }
    }

    private static async Task<ToolResult> RunAsync(
        string program,
        IReadOnlyList<string> arguments,
        string input,
        CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("RUBYOPT");
        start.Environment.Remove("RUBYLIB");

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"'{program}' did not start.");
        }
        catch (Win32Exception exception)
        {
            throw new InvalidOperationException(
                $"The ruby runtime cannot run functions: '{program}' was not found ({exception.Message}). Install "
                    + $"Ruby (apt-get install ruby) or name the interpreter in {InterpreterVariable}.",
                exception);
        }

        using (process)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(s_toolTimeout);
            try
            {
                var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
                var error = process.StandardError.ReadToEndAsync(timeout.Token);
                await process.StandardInput.WriteAsync(input.AsMemory(), timeout.Token).ConfigureAwait(false);
                process.StandardInput.Close();
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                return new ToolResult(
                    process.ExitCode,
                    await output.ConfigureAwait(false),
                    await error.ConfigureAwait(false));
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                cancellationToken.ThrowIfCancellationRequested();
                throw new InvalidOperationException(
                    $"'{program}' did not finish within {s_toolTimeout.TotalSeconds} seconds.");
            }
        }
    }

    // Two workers of one version may start at once: each file appears whole or not at all.
    private static void WriteOnce(string path, byte[] content)
    {
        if (File.Exists(path))
        {
            return;
        }

        var temporary = $"{path}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp";
        File.WriteAllBytes(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }

    private static byte[] ReadBootstrap()
    {
        using var stream = Assembly.GetExecutingAssembly()
            .GetManifestResourceStream("CrabLambda.Samples.Ruby.bootstrap.rb")!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    [GeneratedRegex(@"^[a-z_][A-Za-z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex MethodName();

    private sealed record Installation(string Executable, string Prefix);

    private sealed record ToolResult(int ExitCode, string Output, string Error);
}
