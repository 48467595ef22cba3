using CrabLambda.Functions;

namespace EmbeddedApp;

/// <summary>
/// Deploys the function the app's <c>/greet</c> route runs when the app starts: created the first time, updated when
/// the code here changed (which makes a new version), left alone otherwise.
/// </summary>
/// <param name="functions">The typed client CrabLambda registers.</param>
internal sealed class GreeterDeployment(IFunctionClient functions) : IHostedService
{
    /// <summary>The greeter's name.</summary>
    public const string FunctionName = "greeter";

    private const string Code =
        """
        def handler(event, context):
            print("greeting", event["name"])
            return {"greeting": "Hello, " + event["name"] + "!", "version": context.function_version}
        """;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await functions.CreateAsync(
                new FunctionDefinition(FunctionName, "python", Code, "handler", TimeoutSecs: 10),
                cancellationToken);
        }
        catch (FunctionConflictException)
        {
            // Deployed by an earlier run: an update that changes nothing makes no new version.
            await functions.UpdateAsync(
                FunctionName,
                new FunctionUpdate(Code, "handler", TimeoutSecs: 10),
                cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
