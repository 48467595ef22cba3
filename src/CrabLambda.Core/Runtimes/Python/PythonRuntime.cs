using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CrabLambda.Execution.Process;
using CrabLambda.Functions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Runtimes.Python;

/// <summary>
/// Runs Python 3 modules: the handler names a top-level function, called with <c>(event)</c> or
/// <c>(event, context)</c> by its signature; an <c>async def</c> handler is awaited.
/// </summary>
internal sealed class PythonRuntime : IRuntime
{
    /// <summary>The environment variable that names the interpreter when the options do not.</summary>
    public const string InterpreterVariable = "CRABLAMBDA_PYTHON";

    private const string ModuleFileName = "function.py";
    private const string ContainerInterpreter = "python3";
    private const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";
    private const string ProbeScript =
        "import json, sys; print(json.dumps({'executable': sys.executable,"
        + " 'version': '%d.%d.%d' % sys.version_info[:3], 'ok': sys.version_info >= (3, 8),"
        + " 'prefixes': sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})}))";

    private static readonly FrozenSet<string> s_keywords = FrozenSet.ToFrozenSet(
    [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
        "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    ]);

    private readonly string _interpreter;
    private readonly bool _inContainers;
    private readonly WorkerProgram _worker;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _resolveGate = new(1, 1);
    private Installation? _installation;

    public PythonRuntime(
        IOptions<CrabLambdaOptions> options,
        IOptions<PythonRuntimeOptions> pythonOptions,
        TimeProvider timeProvider,
        ILogger<PythonRuntime> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(pythonOptions);

        _interpreter = pythonOptions.Value.Interpreter
            ?? Environment.GetEnvironmentVariable(InterpreterVariable)
            ?? "python3";
        _worker = new WorkerProgram(
            typeof(PythonRuntime).Assembly,
            "CrabLambda.Runtimes.Python.worker.py",
            WorkDirectory.Resolve(options.Value),
            "python-worker.py");
        _timeProvider = timeProvider;
        _logger = logger;
        _inContainers = options.Value.WorkersRunInContainers;
    }

    public string Name => "python";

    public IReadOnlyCollection<string> Aliases => [];

    public string? ValidateHandler(string handler)
    {
        if (string.IsNullOrEmpty(handler))
        {
            return "The handler must name a top-level function of the module, such as 'handler'.";
        }

        if (!IsIdentifier(handler))
        {
            return $"The handler '{handler}' is not a Python identifier: name a top-level function of the module, "
                + "such as 'handler'.";
        }

        return s_keywords.Contains(handler) ? $"The handler '{handler}' is a Python keyword." : null;
    }

    // Syntax errors and a missing handler are reported by the invocation, as the interpreter words them.
    public Task PrepareAsync(FunctionVersion version, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<WorkerLaunch> GetLaunchAsync(
        FunctionVersion version,
        string codeDirectory,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);

        var module = WriteModule(version, codeDirectory);
        return await LaunchAsync([module, version.Handler], cancellationToken).ConfigureAwait(false);
    }

    public bool SupportsGenericWorkers => true;

    public Task<WorkerLaunch> GetGenericLaunchAsync(CancellationToken cancellationToken) =>
        LaunchAsync([], cancellationToken);

    public Task<WorkerLoad> GetLoadAsync(
        FunctionVersion version,
        string codeDirectory,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);

        return Task.FromResult(new WorkerLoad(WriteModule(version, codeDirectory), version.Handler));
    }

    private string WriteModule(FunctionVersion version, string codeDirectory)
    {
        if (ValidateHandler(version.Handler) is { } problem)
        {
            throw new FunctionCodeException(problem);
        }

        var module = Path.Combine(codeDirectory, ModuleFileName);
        WorkDirectory.WriteFileOnce(module, Encoding.UTF8.GetBytes(version.Code));
        return module;
    }

    /// <summary>The worker program with the function's arguments, or none for a generic worker.</summary>
    private async Task<WorkerLaunch> LaunchAsync(string[] functionArguments, CancellationToken cancellationToken)
    {
        // In a container the image's interpreter runs the worker: the host need not have one.
        var python = _inContainers
            ? new Installation(ContainerInterpreter, [])
            : await GetInstallationAsync(cancellationToken).ConfigureAwait(false);
        var worker = _worker.Ensure();

        // -u: unbuffered output, so lines reach the log as they are written; -B: no bytecode files next to the code;
        // -I: isolated from PYTHON* variables, the user's site-packages and the worker's own folder on sys.path.
        return new WorkerLaunch(python.Executable, ["-u", "-B", "-I", worker, .. functionArguments])
        {
            Environment = new Dictionary<string, string>
            {
                ["PATH"] = $"{Path.GetDirectoryName(python.Executable)}:{DefaultPath}",
            },
            ReadOnlyPaths = [.. python.Prefixes, worker],
            ContainerExecutable = ContainerInterpreter,
        };
    }

    private static bool IsIdentifier(string name)
    {
        for (var i = 0; i < name.Length; i++)
        {
            var category = char.GetUnicodeCategory(name[i]);
            var start = name[i] == '_' || category is UnicodeCategory.UppercaseLetter
                or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber;
            var part = category is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation;
            if (!(start || (i > 0 && part)))
            {
                return false;
            }
        }

        return true;
    }

    private async Task<Installation> GetInstallationAsync(CancellationToken cancellationToken)
    {
        if (_installation is { } known)
        {
            return known;
        }

        await _resolveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_installation is { } resolved)
            {
                return resolved;
            }

            var answer = await InterpreterProbe.RunAsync(_interpreter, ["-c", ProbeScript], _timeProvider,
                cancellationToken).ConfigureAwait(false)
                ?? throw new RuntimeUnavailableException(
                    $"The python runtime cannot run functions: '{_interpreter}' was not found. Install Python 3.8 or "
                    + $"later, or name the interpreter in {InterpreterVariable}.");

            using var document = JsonDocument.Parse(answer);
            var root = document.RootElement;
            var version = root.GetProperty("version").GetString()!;
            if (!root.GetProperty("ok").GetBoolean())
            {
                throw new RuntimeUnavailableException(
                    $"The python runtime needs Python 3.8 or later, but '{_interpreter}' is Python {version}.");
            }

            var executable = root.GetProperty("executable").GetString();
            if (string.IsNullOrEmpty(executable) || !Path.IsPathRooted(executable))
            {
                throw new RuntimeUnavailableException(
                    $"The python runtime cannot run functions: '{_interpreter}' does not know its own path.");
            }

            var installation = new Installation(
                executable,
                root.GetProperty("prefixes").EnumerateArray().Select(p => p.GetString()!).ToArray());
            ProcessExecutorLog.InterpreterResolved(_logger, Name, installation.Executable, version);
            _installation = installation;
            return installation;
        }
        finally
        {
            _resolveGate.Release();
        }
    }

    private sealed record Installation(string Executable, IReadOnlyList<string> Prefixes);
}
