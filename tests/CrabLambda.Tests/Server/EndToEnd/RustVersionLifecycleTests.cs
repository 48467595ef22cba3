using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using CrabLambda.Runtimes.Rust;
using CrabLambda.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static CrabLambda.Tests.Server.EndToEnd.FunctionRoutesEndToEndTests;

namespace CrabLambda.Tests.Server.EndToEnd;

/// <summary>
/// A Rust function's versions through the server, on a build cache of its own so that the test may clear it.
/// </summary>
public sealed class RustVersionLifecycleTests : IAsyncLifetime
{
    private readonly string _cache = Directory.CreateTempSubdirectory("crablambda-rust-cache-").FullName;
    private ServerHarness _server = null!;

    public async Task InitializeAsync() =>
        _server = await ServerHarness.StartAsync(
            configure: builder => builder.Services.PostConfigure<RustRuntimeOptions>(o => o.CacheDirectory = _cache));

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_cache, recursive: true);
    }

    [Fact]
    public async Task Versions_BrokenUpdateFixedUpdateAndRollbackAfterTheCacheWasCleared_EachServesItsOwnCode()
    {
        await _server.DeployAsync("rust-versions", "rust", Returning("one"));
        await UpdateAsync(Returning("two"), HttpStatusCode.OK);

        var broken = await UpdateAsync(
            "fn handler(event: Value) -> String {\n    let n: u32 = \"text\";\n    n.to_string()\n}\n",
            HttpStatusCode.UnprocessableEntity);
        var afterBroken = await _server.GetJsonAsync("api/functions/rust-versions");
        var stillTwo = await _server.InvokeAsync("rust-versions");

        await UpdateAsync(Returning("three"), HttpStatusCode.OK);
        var first = await _server.InvokeAsync("rust-versions");
        var second = await _server.InvokeAsync("rust-versions");

        Directory.Delete(Path.Combine(_cache, "bin"), recursive: true);
        var rollback = await _server.Http.PostAsync("api/functions/rust-versions/rollback/1", content: null);
        var rolledBack = await _server.InvokeAsync("rust-versions");

        // The compiler's line 2 is the user's line 2: the wrapper's lines are not counted.
        var detail = broken.GetProperty("detail").GetString()!;
        Assert.Contains("mismatched types", detail, StringComparison.Ordinal);
        Assert.Contains(":2:", detail, StringComparison.Ordinal);
        Assert.Equal(2, afterBroken.GetProperty("current_version").GetInt32());
        Assert.Equal("two", stillTwo.GetProperty("output").GetString());
        Assert.Equal(3, first.GetProperty("version").GetInt32());
        Assert.Equal("three", first.GetProperty("output").GetString());
        Assert.Equal("three", second.GetProperty("output").GetString());
        Assert.Equal("call 2", await SingleLogLineAsync(second));
        Assert.Equal(HttpStatusCode.OK, rollback.StatusCode);
        Assert.Equal(1, rolledBack.GetProperty("version").GetInt32());
        Assert.Equal("one", rolledBack.GetProperty("output").GetString());
        Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(_cache, "bin")));
        var versions = await _server.GetJsonAsync("api/functions/rust-versions/versions");
        Assert.Equal([3, 2, 1], versions.EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
    }

    /// <summary>A handler that answers <paramref name="text"/> and logs how many calls its worker has served.</summary>
    private static string Returning(string text) =>
        $$"""
        use std::sync::atomic::{AtomicU32, Ordering};

        static CALLS: AtomicU32 = AtomicU32::new(0);

        fn handler(event: Value) -> String {
            let _ = event;
            println!("call {}", CALLS.fetch_add(1, Ordering::SeqCst) + 1);
            "{{text}}".to_string()
        }
        """;

    private async Task<JsonElement> UpdateAsync(string code, HttpStatusCode status)
    {
        var response = await _server.Http.PutAsJsonAsync("api/functions/rust-versions", new { code });
        return status == HttpStatusCode.OK
            ? await ServerHarness.ExpectAsync(response, status)
            : await ExpectProblemAsync(response, status);
    }

    private async Task<string?> SingleLogLineAsync(JsonElement result)
    {
        var logs = await _server.GetJsonAsync($"api/executions/{result.GetProperty("execution_id")}/logs");
        return Assert.Single(logs.EnumerateArray()).GetProperty("message").GetString();
    }
}
