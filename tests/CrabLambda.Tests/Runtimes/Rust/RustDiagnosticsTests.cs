using System.Text.Json;
using CrabLambda.Runtimes.Rust;

namespace CrabLambda.Tests.Runtimes.Rust;

public sealed class RustDiagnosticsTests
{
    private static readonly RustProgram _program =
        new("fn handler(event: Value) -> String {\n    event\n}\n", "handler");

    [Fact]
    public void Sanitize_MachineFolders_AreCutAndTypeNameNotesDropped()
    {
        const string text = """
            error[E0277]: oops
             --> /srv/cache/crablambda-0123/src/lib.rs:10:5
             --> /srv/registry/serde-1.0.152/src/ser/mod.rs:218:1
              = note: the full name for the type has been written to '/srv/cache/target/0/long-type-1.txt'
              = note: consider using `--verbose` to print the full type name to the console
            """;

        var sanitized = RustDiagnostics.Sanitize(text, ["/srv/registry", "/srv/cache/"]);

        Assert.Contains("--> crablambda-0123/src/lib.rs:10:5", sanitized);
        Assert.Contains("--> serde-1.0.152/src/ser/mod.rs:218:1", sanitized);
        Assert.DoesNotContain("/srv", sanitized);
        Assert.DoesNotContain("--verbose", sanitized);
    }

    [Fact]
    public void Format_OnlyWarningsAndSummaries_ReturnsNull()
    {
        var messages = new[]
        {
            Message("warning", "unused variable: `event`", "function.rs", 1),
            Message("error", "aborting due to 1 previous error", spanFile: null, line: 0),
        };

        Assert.Null(RustDiagnostics.Format(messages, _program, []));
    }

    [Fact]
    public void Format_ErrorInGeneratedLines_IsExplainedWithoutTheGeneratedCode()
    {
        var messages = new[] { Message("error", "cannot find value `handler` in this scope", "function.rs", 12) };

        var text = RustDiagnostics.Format(messages, _program, []);

        Assert.NotNull(text);
        Assert.Contains("no function named `handler`", text);
        Assert.DoesNotContain("rendered", text);
    }

    private static JsonElement Message(string level, string message, string? spanFile, int line)
    {
        var spans = spanFile is null
            ? "[]"
            : $$"""[{"file_name":"{{spanFile}}","line_start":{{line}},"is_primary":true}]""";
        var json = $$"""
            {"level":"{{level}}","message":"{{message}}","spans":{{spans}},"children":[],
             "rendered":"rendered {{message}}"}
            """;
        return JsonDocument.Parse(json).RootElement.Clone();
    }
}
