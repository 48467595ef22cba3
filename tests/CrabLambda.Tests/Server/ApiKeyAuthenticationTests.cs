using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using CrabLambda.Server.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CrabLambda.Tests.Server;

public sealed class ApiKeyAuthenticationTests : IAsyncLifetime
{
    private const string Key = "correct horse battery staple";

    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddApiKeyAuthentication(Key);
        _app = builder.Build();
        _app.MapGroup("/api").RequireAuthorization(ApiKeyAuthentication.PolicyName).MapGet("/ping", () => "pong");
        _app.MapGet("/open", () => "open");
        await _app.StartAsync();

        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Single();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Request_BearerKey_IsServed()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/ping");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Key);

        var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("pong", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Request_XApiKeyHeader_IsServed()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/ping");
        request.Headers.Add("X-API-Key", Key);

        var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Request_NoKey_Is401ProblemWithBearerChallenge()
    {
        var response = await _http.GetAsync("/api/ping");

        var problem = await AssertUnauthorizedAsync(response);
        Assert.Contains("X-API-Key", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("Bearer", "wrong")]
    [InlineData("Bearer", "correct horse battery staplE")]
    [InlineData("Bearer", "correct horse battery staple and more")]
    [InlineData("Basic", Key)]
    public async Task Request_WrongKeyOrScheme_Is401(string scheme, string value)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/ping");
        request.Headers.Authorization = new AuthenticationHeaderValue(scheme, value);

        var response = await _http.SendAsync(request);

        await AssertUnauthorizedAsync(response);
    }

    [Fact]
    public async Task Request_WrongXApiKey_Is401SayingTheKeyIsNotValid()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/ping");
        request.Headers.Add("X-API-Key", "nope");

        var response = await _http.SendAsync(request);

        var problem = await AssertUnauthorizedAsync(response);
        Assert.Contains("not valid", problem.GetProperty("title").GetString());
        Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Request_OutsideTheGroup_NeedsNoKey()
    {
        var response = await _http.GetAsync("/open");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<JsonElement> AssertUnauthorizedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.Equal(StatusCodes.Status401Unauthorized, problem.GetProperty("status").GetInt32());
        return problem;
    }
}
