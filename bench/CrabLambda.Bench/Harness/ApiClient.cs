using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CrabLambda.Bench.Serve;

namespace CrabLambda.Bench.Harness;

/// <summary>
/// Talks to a benchmark server over HTTP/1.1 keep-alive connections, like any client of the REST API.
/// </summary>
internal sealed class ApiClient : IDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly byte[] Success = "\"status\":\"success\""u8.ToArray();

    private readonly HttpClient _http;

    public ApiClient(Uri address)
    {
        _http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 256,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            UseProxy = false,
        })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromMinutes(5),
        };
    }

    /// <summary>Deploys a function through <c>POST /api/functions</c>.</summary>
    /// <exception cref="InvalidOperationException">The server refused the deploy.</exception>
    public async Task DeployAsync(string name, string runtime, string code)
    {
        using var response = await _http.PostAsJsonAsync(
            "api/functions",
            new { name, runtime, code, handler = "handler", timeout_secs = 60 });
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException(
                $"Deploying {name} ({runtime}) failed with {(int)response.StatusCode}: "
                + await response.Content.ReadAsStringAsync());
        }
    }

    /// <summary>Posts an event and tells whether the answer was a 200 with <c>"status":"success"</c>.</summary>
    public async Task<bool> PostSucceedsAsync(string path, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Content(body) };
        using var response = await _http.SendAsync(request);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return false;
        }

        var answer = await response.Content.ReadAsByteArrayAsync();
        return answer.AsSpan().IndexOf(Success) >= 0;
    }

    /// <summary>
    /// Posts an event and returns the answer's body, or null when it was not a successful invocation.
    /// </summary>
    public async Task<byte[]?> PostAsync(string path, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Content(body) };
        using var response = await _http.SendAsync(request);
        var answer = await response.Content.ReadAsByteArrayAsync();
        return response.StatusCode == HttpStatusCode.OK && answer.AsSpan().IndexOf(Success) >= 0 ? answer : null;
    }

    /// <summary>Gets a path and tells whether it answered 200.</summary>
    public async Task<bool> GetSucceedsAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        await response.Content.ReadAsByteArrayAsync();
        return response.StatusCode == HttpStatusCode.OK;
    }

    public async Task SetPersistenceAsync(bool on)
    {
        using var response = await _http.PostAsync($"bench/persistence?on={(on ? "true" : "false")}", null);
        response.EnsureSuccessStatusCode();
    }

    public async Task ResetPhasesAsync()
    {
        using var response = await _http.DeleteAsync("bench/phases");
        response.EnsureSuccessStatusCode();
    }

    public async Task<Dictionary<string, PhaseSummary>> GetPhasesAsync() =>
        await _http.GetFromJsonAsync<Dictionary<string, PhaseSummary>>("bench/phases")
        ?? throw new InvalidOperationException("The server sent no phase timings.");

    public async Task<int[]> GetWorkerProcessIdsAsync(string function) =>
        await _http.GetFromJsonAsync<int[]>($"bench/workers/{function}") ?? [];

    /// <summary>
    /// Writes execution records of a function straight through the server's store; returns the time taken.
    /// </summary>
    public async Task<TimeSpan> SeedAsync(string function, int count, int errorEvery, int batch)
    {
        using var response = await _http.PostAsync(
            $"bench/seed?function={function}&count={count}&errorEvery={errorEvery}&batch={batch}",
            null);
        response.EnsureSuccessStatusCode();
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return TimeSpan.FromMilliseconds(answer.RootElement.GetProperty("elapsed_ms").GetDouble());
    }

    public void Dispose() => _http.Dispose();

    private static ByteArrayContent Content(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = Json;
        return content;
    }

    /// <summary>The UTF-8 bytes of a JSON text.</summary>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
