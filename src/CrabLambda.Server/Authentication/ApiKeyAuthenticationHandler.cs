using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace CrabLambda.Server.Authentication;

/// <summary>
/// The options of the API-key scheme: the SHA-256 of the one key the server accepts.
/// </summary>
public sealed class ApiKeyAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>The SHA-256 of the key; hashing both sides makes the comparison fixed-length.</summary>
    public byte[] KeyHash { get; set; } = [];

    /// <summary>Sets <see cref="KeyHash"/> from the key.</summary>
    /// <param name="key">The API key.</param>
    public void SetKey(string key) => KeyHash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

/// <summary>
/// Accepts a request that carries the API key as <c>Authorization: Bearer KEY</c> or <c>X-API-Key: KEY</c>, and
/// answers any other with a 401 problem and <c>WWW-Authenticate: Bearer</c>.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<ApiKeyAuthenticationOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder)
    : AuthenticationHandler<ApiKeyAuthenticationOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string KeyHeader = "X-API-Key";

    private const string BearerPrefix = "Bearer ";
    private const string MissingKey = "missing";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedKey();
        if (presented is null)
        {
            return Task.FromResult(AuthenticateResult.Fail(MissingKey));
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        if (!CryptographicOperations.FixedTimeEquals(hash, Options.KeyHash))
        {
            return Task.FromResult(AuthenticateResult.Fail("The API key is not valid."));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "api-key")], SchemeName);
        var ticket = new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName);
        return Task.FromResult(AuthenticateResult.Success(ticket));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var missing = result.Failure?.Message == MissingKey;

        Response.Headers.WWWAuthenticate = missing
            ? "Bearer realm=\"CrabLambda\""
            : "Bearer realm=\"CrabLambda\", error=\"invalid_token\"";
        var detail = missing
            ? $"Send the API key as 'Authorization: Bearer KEY' or '{KeyHeader}: KEY'."
            : "The API key sent is not the server's API_KEY. Check the key and send it again.";
        await Results.Problem(
                detail,
                statusCode: StatusCodes.Status401Unauthorized,
                title: missing ? "An API key is required" : "The API key is not valid")
            .ExecuteAsync(Context);
    }

    private string? PresentedKey()
    {
        if (Request.Headers.TryGetValue(KeyHeader, out var keyHeader) && keyHeader.Count == 1
            && !string.IsNullOrEmpty(keyHeader[0]))
        {
            return keyHeader[0];
        }

        var authorization = Request.Headers[HeaderNames.Authorization].ToString();
        if (authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var key = authorization[BearerPrefix.Length..].Trim();
            return key.Length > 0 ? key : null;
        }

        return null;
    }
}
