using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CrabLambda.Execution.Process;
using CrabLambda.Functions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CrabLambda.Runtimes.Node;

/// <summary>
/// Runs CommonJS modules on Node.js: the handler names an export, or a top-level function of the module that is not
/// exported; it is called with <c>(event, context)</c> and a returned promise is awaited.
/// </summary>
internal sealed class NodeRuntime : IRuntime
{
    /// <summary>The environment variable that names the Node.js program when the options do not.</summary>
    public const string InterpreterVariable = "CRABLAMBDA_NODE";

    // .cjs: CommonJS whatever a package.json above the work directory says.
    private const string ModuleFileName = "function.cjs";
    private const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";
    private const string ProbeScript =
        "process.stdout.write(JSON.stringify({ executable: process.execPath, version: process.versions.node }))";

    // Reserved words cannot name a function; the names of the CommonJS wrapper's parameters would find the wrapper's
    // own objects instead of the function's.
    private static readonly FrozenSet<string> s_reserved = FrozenSet.ToFrozenSet(
    [
        "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else",
        "enum", "export", "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof",
        "new", "null", "return", "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void",
        "while", "with", "yield", "let", "static", "implements", "interface", "package", "private", "protected",
        "public", "await", "arguments", "eval", "require", "module", "exports", "__filename", "__dirname",
    ]);

    private const string ContainerInterpreter = "node";

    private readonly string _interpreter;
    private readonly bool _inContainers;
    private readonly WorkerProgram _worker;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _resolveGate = new(1, 1);
    private string? _executable;

    public NodeRuntime(
        IOptions<CrabLambdaOptions> options,
        IOptions<NodeRuntimeOptions> nodeOptions,
        TimeProvider timeProvider,
        ILogger<NodeRuntime> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(nodeOptions);

        _interpreter = nodeOptions.Value.Interpreter
            ?? Environment.GetEnvironmentVariable(InterpreterVariable)
            ?? "node";
        _worker = new WorkerProgram(
            typeof(NodeRuntime).Assembly,
            "CrabLambda.Runtimes.Node.worker.js",
            WorkDirectory.Resolve(options.Value),
            "node-worker.js");
        _timeProvider = timeProvider;
        _logger = logger;
        _inContainers = options.Value.WorkersRunInContainers;
    }

    public string Name => "node";

    public IReadOnlyCollection<string> Aliases { get; } = ["nodejs"];

    public string? ValidateHandler(string handler)
    {
        if (string.IsNullOrEmpty(handler))
        {
            return "The handler must name an exported or top-level function of the module, such as 'handler'.";
        }

        if (!IsIdentifier(handler))
        {
            return $"The handler '{handler}' is not a JavaScript identifier: name an exported or top-level function "
                + "of the module, such as 'handler'.";
        }

        return s_reserved.Contains(handler)
            ? $"The handler '{handler}' is a reserved name in a CommonJS module; choose another, such as 'handler'."
            : null;
    }

    // Syntax errors and a missing handler are reported by the invocation, as Node.js words them.
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
        // The handler is written into code below: only a checked identifier may get there.
        if (ValidateHandler(version.Handler) is { } problem)
        {
            throw new FunctionCodeException(problem);
        }

        var module = Path.Combine(codeDirectory, ModuleFileName);
        WorkDirectory.WriteFileOnce(module, Encoding.UTF8.GetBytes(WithHandlerLookup(version.Code, version.Handler)));
        return module;
    }

    /// <summary>The worker program with the function's arguments, or none for a generic worker.</summary>
    private async Task<WorkerLaunch> LaunchAsync(string[] functionArguments, CancellationToken cancellationToken)
    {
        // In a container the image's interpreter runs the worker: the host need not have one.
        var executable = _inContainers
            ? ContainerInterpreter
            : await GetExecutableAsync(cancellationToken).ConfigureAwait(false);
        var worker = _worker.Ensure();

        return new WorkerLaunch(executable, [worker, .. functionArguments])
        {
            Environment = new Dictionary<string, string>
            {
                ["PATH"] = $"{Path.GetDirectoryName(executable)}:{DefaultPath}",
            },
            ReadOnlyPaths = [executable, worker],
            ContainerExecutable = ContainerInterpreter,
        };
    }

    /// <summary>
    /// Appends one line to the module that hands a top-level function of the handler's name to the worker, so that a
    /// handler need not be exported. A global of that name (<c>fetch</c>, say) is not the module's and is not taken.
    /// The line comes after the code, so line numbers in stack traces stay as written.
    /// </summary>
    internal static string WithHandlerLookup(string code, string handler) =>
        $"{code}\n;module[Symbol.for(\"crablambda.handler\")] = (() => {{ try {{ return typeof {handler} === "
        + $"\"function\" && {handler} !== globalThis.{handler} ? {handler} : undefined; }} "
        + "catch { return undefined; } })();\n";

    private static bool IsIdentifier(string name)
    {
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var category = char.GetUnicodeCategory(c);
            var start = c is '$' or '_' || category is UnicodeCategory.UppercaseLetter
                or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber;
            var part = c is '\u200C' or '\u200D' || category is UnicodeCategory.NonSpacingMark
                or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber
                or UnicodeCategory.ConnectorPunctuation;
            if (!(start || (i > 0 && part)))
            {
                return false;
            }
        }

        return true;
    }

    private async Task<string> GetExecutableAsync(CancellationToken cancellationToken)
    {
        if (_executable is { } known)
        {
            return known;
        }

        await _resolveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_executable is { } resolved)
            {
                return resolved;
            }

            var answer = await InterpreterProbe.RunAsync(_interpreter, ["-e", ProbeScript], _timeProvider,
                cancellationToken).ConfigureAwait(false)
                ?? throw new RuntimeUnavailableException(
                    $"The node runtime cannot run functions: '{_interpreter}' was not found. Install Node.js, or name "
                    + $"the program in {InterpreterVariable}.");

            using var document = JsonDocument.Parse(answer);
            var executable = document.RootElement.GetProperty("executable").GetString();
            if (string.IsNullOrEmpty(executable) || !Path.IsPathRooted(executable))
            {
                throw new RuntimeUnavailableException(
                    $"The node runtime cannot run functions: '{_interpreter}' does not know its own path.");
            }

            var version = document.RootElement.GetProperty("version").GetString() ?? "unknown";
            ProcessExecutorLog.InterpreterResolved(_logger, Name, executable, version);
            _executable = executable;
            return executable;
        }
        finally
        {
            _resolveGate.Release();
        }
    }
}
