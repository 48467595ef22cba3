using System.Security.Cryptography;
using System.Text;

namespace CrabLambda.Runtimes.Rust;

/// <summary>
/// The worker program generated for one function: the user's code first, so that its lines keep their numbers in
/// the compiler's diagnostics, then the generated <c>main</c> that serves invocations through the
/// <c>crablambda</c> crate.
/// </summary>
internal sealed class RustProgram
{
    /// <summary>The name of the source file, as diagnostics and panic locations show it.</summary>
    public const string SourceFileName = "function.rs";

    private const string HandlerPlaceholder = "__CRABLAMBDA_HANDLER__";

    /// <summary>
    /// How <see cref="RustCompiler"/> builds a program, beyond the texts here. Change it with the build, so that
    /// binaries built the old way are not reused.
    /// </summary>
    /// <remarks>
    /// NOTE: the toolchain's version is not part of the key: after an upgrade, functions keep their binaries from
    /// the old compiler (they still run) until the cache folder is cleared.
    /// </remarks>
    private const string BuildRecipe = "1: cargo build --release --offline, linked statically on linux-gnu";

    /// <summary>The <c>crablambda</c> crate every function links: the worker protocol and the handler glue.</summary>
    public static readonly string WorkerCrateSource = ReadResource("crablambda.rs");

    /// <summary>The manifest of the <c>crablambda</c> crate.</summary>
    public const string WorkerCrateManifest = """
        [package]
        name = "crablambda"
        version = "0.0.0"
        edition = "2021"
        publish = false

        [dependencies]
        serde = { version = "1", features = ["derive"] }
        serde_json = { version = "1", features = ["preserve_order", "unbounded_depth", "float_roundtrip"] }

        [workspace]

        """;

    private static readonly string _mainTemplate = ReadResource("main.rs");

    // Every function's manifest asks for the same dependencies with the same features, so their builds share the
    // compiled crates in a cargo build folder. Release: it compiles a function about 0.4 s slower than debug and runs
    // handlers several times faster.
    private const string ManifestTemplate = """
        [package]
        name = "{name}"
        version = "0.0.0"
        edition = "2021"
        publish = false
        autobins = false

        [[bin]]
        name = "{name}"
        path = "function.rs"

        [dependencies]
        crablambda = { path = "{crate}" }
        serde = { version = "1", features = ["derive"] }
        serde_json = { version = "1", features = ["preserve_order", "unbounded_depth", "float_roundtrip"] }

        [workspace]

        """;

    /// <summary>
    /// A digest of everything besides the function that shapes a program. Part of every key, so a new template or
    /// crate makes new binaries instead of reusing old ones.
    /// </summary>
    public static readonly string RecipeDigest = Sha256(
        string.Join('\0', WorkerCrateSource, WorkerCrateManifest, _mainTemplate, ManifestTemplate, BuildRecipe));

    public RustProgram(string code, string handler)
    {
        ArgumentNullException.ThrowIfNull(code);
        ArgumentException.ThrowIfNullOrEmpty(handler);

        Key = Sha256(string.Join('\0', RecipeDigest, handler, code));
        Handler = handler;
        PackageName = "function-" + Key[..24];

        var body = code.EndsWith('\n') ? code : code + "\n";
        UserLineCount = body.Count(c => c == '\n');
        Source = body + _mainTemplate.Replace(HandlerPlaceholder, handler, StringComparison.Ordinal);
    }

    /// <summary>The cache key: SHA-256 of the recipe, the handler and the code, lowercase hex.</summary>
    public string Key { get; }

    /// <summary>The handler's name.</summary>
    public string Handler { get; }

    /// <summary>The cargo package and binary name, unique per key so that builds never collide.</summary>
    public string PackageName { get; }

    /// <summary>How many lines of <see cref="Source"/> are the user's; the generated ones follow.</summary>
    public int UserLineCount { get; }

    /// <summary>The complete <see cref="SourceFileName"/>.</summary>
    public string Source { get; }

    /// <summary>The package manifest, using the <c>crablambda</c> crate in <paramref name="workerCrate"/>.</summary>
    public string Manifest(string workerCrate) => ManifestTemplate
        .Replace("{name}", PackageName, StringComparison.Ordinal)
        .Replace("{crate}", Toml.Escape(workerCrate), StringComparison.Ordinal);

    private static string Sha256(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string ReadResource(string fileName)
    {
        var assembly = typeof(RustProgram).Assembly;
        var name = $"{typeof(RustProgram).Namespace}.{fileName}";
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The resource '{name}' is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
