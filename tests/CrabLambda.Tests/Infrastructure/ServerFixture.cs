namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// One real server shared by the tests of a class; each test deploys functions under names of its own. It stores
/// into the harness's own SQLite file unless a subclass gives it another database.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    private ServerHarness? _server;

    public ServerHarness Server => _server ?? throw new InvalidOperationException("The server has not started.");

    protected virtual IReadOnlyDictionary<string, string?> Variables { get; } = new Dictionary<string, string?>();

    public async Task InitializeAsync()
    {
        var variables = new Dictionary<string, string?>(Variables);
        if (await CreateDatabaseUrlAsync() is { } url)
        {
            variables["DATABASE_URL"] = url;
        }

        _server = await ServerHarness.StartAsync(variables);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>The <c>DATABASE_URL</c> of a new, empty database, or null for the harness's own SQLite file.</summary>
    protected virtual Task<string?> CreateDatabaseUrlAsync() => Task.FromResult<string?>(null);
}
