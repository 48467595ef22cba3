namespace CrabLambda.Server.Authentication;

/// <summary>
/// Registers the API-key scheme and the policy that the <c>/api</c> routes require when <c>ENABLE_AUTH</c> is on.
/// </summary>
internal static class ApiKeyAuthentication
{
    public const string PolicyName = "CrabLambdaApiKey";

    public static IServiceCollection AddApiKeyAuthentication(this IServiceCollection services, string apiKey)
    {
        services
            .AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<ApiKeyAuthenticationOptions, ApiKeyAuthenticationHandler>(
                ApiKeyAuthenticationHandler.SchemeName,
                options => options.SetKey(apiKey));

        services.AddAuthorizationBuilder()
            .AddPolicy(PolicyName, policy => policy
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName)
                .RequireAuthenticatedUser());

        return services;
    }
}
