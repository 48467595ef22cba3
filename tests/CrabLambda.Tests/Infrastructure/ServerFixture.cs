namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// One real server shared by the tests of a class; each test deploys functions under names of its own.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    private ServerHarness? _server;

    public ServerHarness Server => _server ?? throw new InvalidOperationException("The server has not started.");

    protected virtual IReadOnlyDictionary<string, string?> Variables { get; } = new Dictionary<string, string?>();

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync(Variables);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
