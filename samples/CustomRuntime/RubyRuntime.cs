using System.Diagnostics;
using System.Reflection;
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
/// that speaks the worker protocol. Here the worker is <c>bootstrap.rb</c>, shipped inside this assembly.
/// </remarks>
public sealed partial class RubyRuntime : IRuntime
{
    private static readonly TimeSpan SyntaxCheckTimeout = TimeSpan.FromSeconds(30);

    private readonly Lazy<string> _ruby = new(FindRuby);
    private readonly Lazy<byte[]> _bootstrap = new(ReadBootstrap);

    /// <inheritdoc/>
    public string Name => "ruby";

    /// <inheritdoc/>
    public IReadOnlyCollection<string> Aliases { get; } = ["rb"];

    /// <inheritdoc/>
    public string? ValidateHandler(string handler) =>
        MethodName().IsMatch(handler) ? null : "The handler must name a Ruby method, for example 'handler'.";

    /// <summary>
    /// Refuses code that does not parse, with Ruby's own message (<c>ruby -c</c>), so a typo is a 422 at deploy
    /// time rather than an error on every invoke.
    /// </summary>
    public async Task PrepareAsync(FunctionVersion version, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(_ruby.Value, ["--disable-gems", "-c", "-"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        start.Environment["LANG"] = "C.UTF-8";

        using var process = Process.Start(start)
            ?? throw new InvalidOperationException("ruby did not start.");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(SyntaxCheckTimeout);

        await process.StandardInput.WriteAsync(version.Code.AsMemory(), timeout.Token);
        process.StandardInput.Close();
        var errors = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);

        if (process.ExitCode != 0)
        {
            throw new FunctionCodeException("The Ruby code does not parse:\n" + (await errors).Replace("-:", "line "));
        }
    }

    /// <inheritdoc/>
    public async Task<WorkerLaunch> GetLaunchAsync(
        FunctionVersion version,
        string codeDirectory,
        CancellationToken cancellationToken)
    {
        var bootstrap = Path.Combine(codeDirectory, "bootstrap.rb");
        var code = Path.Combine(codeDirectory, "function.rb");
        if (!File.Exists(code))
        {
            await File.WriteAllBytesAsync(bootstrap, _bootstrap.Value, cancellationToken);
            await File.WriteAllTextAsync(code, version.Code, cancellationToken);
        }

        return new WorkerLaunch(_ruby.Value, ["--disable-gems", bootstrap, code, version.Handler])
        {
            Environment = new Dictionary<string, string> { ["RUBYOPT"] = "" },
        };
    }

    private static string FindRuby()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "ruby"))
            .FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Ruby is not installed: apt-get install ruby.");
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
}
