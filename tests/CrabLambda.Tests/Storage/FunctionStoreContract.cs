using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using CrabLambda.Execution;
using CrabLambda.Functions;
using CrabLambda.Storage;
using ExecutionRecord = CrabLambda.Execution.Execution;

namespace CrabLambda.Tests.Storage;

/// <summary>
/// What every <see cref="IFunctionStore"/> must do, written once and run against each engine by a subclass that
/// supplies an empty database per test.
/// </summary>
public abstract class FunctionStoreContract : IAsyncLifetime
{
    /// <summary>A fixed moment that every test's times count from; whole milliseconds survive every engine.</summary>
    protected static readonly DateTimeOffset Start = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private const string EventJson = """{"name": "crab", "legs": [1, 2, 3], "nested": {"ok": true}}""";

    private readonly List<IFunctionStore> _stores = [];

    /// <summary>The store the test works with, migrated.</summary>
    protected IFunctionStore Store { get; private set; } = null!;

    /// <summary>Prepares an empty database for this test.</summary>
    protected abstract Task CreateDatabaseAsync();

    /// <summary>Opens a new store instance on this test's database, as a second server or a restart would.</summary>
    /// <param name="deleteBatchSize">How many executions a retention pass deletes per transaction.</param>
    protected abstract IFunctionStore NewStore(int deleteBatchSize);

    /// <summary>Removes what <see cref="CreateDatabaseAsync"/> made, after every store is closed.</summary>
    protected virtual Task DeleteDatabaseAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        await CreateDatabaseAsync();
        Store = OpenStore();
        await Store.MigrateAsync(CancellationToken.None);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await CloseStoresAsync();
        await DeleteDatabaseAsync();
    }

    [Fact]
    public async Task PingAsync_MigratedStore_ReturnsTrue()
    {
        Assert.True(await Store.PingAsync(CancellationToken.None));
    }

    [Fact]
    public async Task CreateFunctionAsync_NewFunction_CanBeReadBackWithItsFirstVersion()
    {
        var (function, version) = NewFunction("hello");

        await Store.CreateFunctionAsync(function, version, CancellationToken.None);

        Assert.Equal(function, await Store.GetFunctionAsync("hello", CancellationToken.None));
        Assert.Equal(version, await Store.GetVersionAsync(function.Id, 1, CancellationToken.None));
        Assert.Equal([version], await Store.ListVersionsAsync(function.Id, CancellationToken.None));
    }

    [Fact]
    public async Task GetFunctionAsync_UnknownName_ReturnsNull()
    {
        await CreateFunctionAsync("known");

        Assert.Null(await Store.GetFunctionAsync("unknown", CancellationToken.None));
        Assert.Null(await Store.GetFunctionAsync("KNOWN", CancellationToken.None));
    }

    [Fact]
    public async Task CreateFunctionAsync_NameTaken_ThrowsConflictAndKeepsTheFirst()
    {
        var first = await CreateFunctionAsync("taken");
        var (second, secondVersion) = NewFunction("taken");

        var exception = await Assert.ThrowsAsync<FunctionConflictException>(
            () => Store.CreateFunctionAsync(second, secondVersion, CancellationToken.None));

        Assert.Equal("taken", exception.Name);
        Assert.Equal(first, await Store.GetFunctionAsync("taken", CancellationToken.None));
        Assert.Empty(await Store.ListVersionsAsync(second.Id, CancellationToken.None));
    }

    [Theory]
    [InlineData(0, 30)]
    [InlineData(10241, 30)]
    [InlineData(128, 0)]
    [InlineData(128, 901)]
    public async Task CreateFunctionAsync_LimitsOutOfRange_AreRefusedByTheDatabase(int memoryMb, int timeoutSecs)
    {
        var (function, version) = NewFunction("limits");
        function = function with { MemoryMb = memoryMb, TimeoutSecs = timeoutSecs };
        version = version with { MemoryMb = memoryMb, TimeoutSecs = timeoutSecs };

        await Assert.ThrowsAnyAsync<DbException>(
            () => Store.CreateFunctionAsync(function, version, CancellationToken.None));

        Assert.Null(await Store.GetFunctionAsync("limits", CancellationToken.None));
    }

    [Fact]
    public async Task ListFunctionsAsync_SeveralPages_ReturnsEachPageByNameWithTheTotal()
    {
        foreach (var name in new[] { "delta", "alpha", "echo", "Zulu", "charlie", "bravo" })
        {
            await CreateFunctionAsync(name);
        }

        var pages = new List<ListPage<Function>>();
        for (var page = 1; page <= 4; page++)
        {
            pages.Add(await Store.ListFunctionsAsync(page, 2, CancellationToken.None));
        }

        // Byte order on every engine: upper case sorts before lower case.
        Assert.Equal(["Zulu", "alpha"], pages[0].Items.Select(f => f.Name));
        Assert.Equal(["bravo", "charlie"], pages[1].Items.Select(f => f.Name));
        Assert.Equal(["delta", "echo"], pages[2].Items.Select(f => f.Name));
        Assert.Empty(pages[3].Items);
        Assert.All(pages, page => Assert.Equal(6, page.Total));
        Assert.Equal((3, 2), (pages[2].Page, pages[2].Limit));
    }

    [Fact]
    public async Task ListFunctionsAsync_EmptyStore_ReturnsNoItemsAndZeroTotal()
    {
        var page = await Store.ListFunctionsAsync(1, 10, CancellationToken.None);

        Assert.Empty(page.Items);
        Assert.Equal(0, page.Total);
    }

    [Fact]
    public async Task AddVersionAsync_ExistingFunction_AddsTheNextVersionAndMakesItCurrent()
    {
        var function = await CreateFunctionAsync("grow");
        var draft = Draft(function, "def main(event):\n    return 2\n", Start.AddMinutes(5)) with
        {
            Version = 99,
            Handler = "main",
            MemoryMb = 512,
            TimeoutSecs = 60,
            Network = true,
        };

        var result = await Store.AddVersionAsync(function.Id, 1, draft, CancellationToken.None);

        Assert.NotNull(result);
        var (updated, version) = result.Value;
        Assert.Equal(draft with { Version = 2 }, version);
        var expected = function with
        {
            Handler = "main",
            MemoryMb = 512,
            TimeoutSecs = 60,
            Network = true,
            CurrentVersion = 2,
            UpdatedAt = draft.DeployedAt,
        };
        Assert.Equal(expected, updated);
        Assert.Equal(expected, await Store.GetFunctionAsync("grow", CancellationToken.None));
        Assert.Equal(version, await Store.GetVersionAsync(function.Id, 2, CancellationToken.None));
    }

    [Fact]
    public async Task AddVersionAsync_UnknownFunction_ReturnsNull()
    {
        var function = await CreateFunctionAsync("present");
        var stranger = function with { Id = Guid.CreateVersion7() };
        var draft = Draft(stranger, "x = 1", Start);

        var result = await Store.AddVersionAsync(stranger.Id, 1, draft, CancellationToken.None);

        Assert.Null(result);
        Assert.Empty(await Store.ListVersionsAsync(stranger.Id, CancellationToken.None));
    }

    [Fact]
    public async Task AddVersionAsync_CurrentVersionMovedOn_StoresNothingAndReturnsNull()
    {
        var function = await CreateFunctionAsync("moved");
        await AddVersionAsync(function, "v = 2", Start.AddMinutes(1));
        var late = Draft(function, "late", Start.AddMinutes(2));
        var third = Draft(function, "v = 3", Start.AddMinutes(4));
        var none = CancellationToken.None;

        var afterADeploy = await Store.AddVersionAsync(function.Id, 1, late, none);
        var rolledBack = await Store.SetCurrentVersionAsync(function.Id, 1, Start.AddMinutes(3), none);
        var afterARollback = await Store.AddVersionAsync(function.Id, 2, late, none);
        var onTheCurrent = await Store.AddVersionAsync(function.Id, 1, third, none);

        Assert.Null(afterADeploy);
        Assert.Null(afterARollback);
        Assert.NotNull(onTheCurrent);
        Assert.Equal(3, onTheCurrent.Value.Version.Version);
        var expected = rolledBack! with { CurrentVersion = 3, UpdatedAt = Start.AddMinutes(4) };
        Assert.Equal(expected, onTheCurrent.Value.Function);
        var versions = await Store.ListVersionsAsync(function.Id, none);
        Assert.Equal([3, 2, 1], versions.Select(v => v.Version));
        Assert.DoesNotContain(versions, v => v.Code == "late");
    }

    [Fact]
    public async Task ListVersionsAsync_ThreeVersions_ReturnsNewestFirst()
    {
        var function = await CreateFunctionAsync("history");
        await AddVersionAsync(function, "v = 2", Start.AddMinutes(1));
        await AddVersionAsync(function, "v = 3", Start.AddMinutes(2));

        var versions = await Store.ListVersionsAsync(function.Id, CancellationToken.None);

        Assert.Equal([3, 2, 1], versions.Select(v => v.Version));
        Assert.Equal(["v = 3", "v = 2"], versions.Take(2).Select(v => v.Code));
    }

    [Fact]
    public async Task GetVersionAsync_UnknownVersion_ReturnsNull()
    {
        var function = await CreateFunctionAsync("single");

        Assert.Null(await Store.GetVersionAsync(function.Id, 2, CancellationToken.None));
        Assert.Null(await Store.GetVersionAsync(Guid.CreateVersion7(), 1, CancellationToken.None));
    }

    [Fact]
    public async Task SetCurrentVersionAsync_EarlierVersion_RestoresItsConfiguration()
    {
        var function = await CreateFunctionAsync("rollback");
        var draft = Draft(function, "v = 2", Start.AddMinutes(1)) with { Handler = "other", MemoryMb = 1024 };
        await Store.AddVersionAsync(function.Id, 1, draft, CancellationToken.None);
        var rolledBackAt = Start.AddMinutes(2);

        var result = await Store.SetCurrentVersionAsync(function.Id, 1, rolledBackAt, CancellationToken.None);

        var expected = function with { UpdatedAt = rolledBackAt };
        Assert.Equal(expected, result);
        Assert.Equal(expected, await Store.GetFunctionAsync("rollback", CancellationToken.None));

        // A deploy after a rollback still takes the next free number.
        var next = await AddVersionAsync(function, "v = 3", Start.AddMinutes(3));
        Assert.Equal(3, next.Version.Version);
    }

    [Fact]
    public async Task SetCurrentVersionAsync_MissingVersion_ReturnsNullAndChangesNothing()
    {
        var function = await CreateFunctionAsync("steady");

        var missingVersion = await Store.SetCurrentVersionAsync(
            function.Id,
            7,
            Start.AddHours(1),
            CancellationToken.None);
        var missingFunction = await Store.SetCurrentVersionAsync(
            Guid.CreateVersion7(),
            1,
            Start.AddHours(1),
            CancellationToken.None);

        Assert.Null(missingVersion);
        Assert.Null(missingFunction);
        Assert.Equal(function, await Store.GetFunctionAsync("steady", CancellationToken.None));
    }

    [Fact]
    public async Task DeleteFunctionAsync_FunctionWithHistory_DeletesItsVersionsExecutionsAndLogs()
    {
        var doomed = await CreateFunctionAsync("doomed");
        await AddVersionAsync(doomed, "v = 2", Start.AddMinutes(1));
        var kept = await CreateFunctionAsync("kept");
        var doomedRun = NewExecution(doomed, Start.AddMinutes(2), logLines: 3);
        var keptRun = NewExecution(kept, Start.AddMinutes(3), logLines: 2);
        await Store.AddExecutionsAsync([doomedRun, keptRun], CancellationToken.None);

        var deleted = await Store.DeleteFunctionAsync("doomed", CancellationToken.None);

        Assert.True(deleted);
        Assert.Null(await Store.GetFunctionAsync("doomed", CancellationToken.None));
        Assert.Empty(await Store.ListVersionsAsync(doomed.Id, CancellationToken.None));
        Assert.Null(await Store.GetVersionAsync(doomed.Id, 1, CancellationToken.None));
        Assert.Null(await Store.GetExecutionAsync(doomedRun.Execution.Id, CancellationToken.None));
        Assert.Empty(await Store.GetLogsAsync(doomedRun.Execution.Id, CancellationToken.None));
        Assert.Empty(await ListAsync(doomed.Id, null, 10));

        Assert.NotNull(await Store.GetExecutionAsync(keptRun.Execution.Id, CancellationToken.None));
        Assert.Equal(2, (await Store.GetLogsAsync(keptRun.Execution.Id, CancellationToken.None)).Count);
        Assert.False(await Store.DeleteFunctionAsync("doomed", CancellationToken.None));

        // The name is free again.
        await CreateFunctionAsync("doomed");
    }

    [Fact]
    public async Task AddExecutionsAsync_Batch_WritesEveryExecutionWithItsLogs()
    {
        var function = await CreateFunctionAsync("busy");
        var unmeasured = NewExecution(function, Start.AddSeconds(3), ExecutionStatus.Timeout, logLines: 1);
        var entries = new[]
        {
            NewExecution(function, Start.AddSeconds(1), ExecutionStatus.Success, logLines: 2),
            NewExecution(function, Start.AddSeconds(2), ExecutionStatus.Error, logLines: 0),
            unmeasured with { Execution = unmeasured.Execution with { MemoryUsedMb = null } },
        };

        var written = await Store.AddExecutionsAsync(entries, CancellationToken.None);

        Assert.Equal(entries.Select(e => e.Execution.Id).ToHashSet(), written);
        foreach (var expected in entries)
        {
            var actual = await Store.GetExecutionAsync(expected.Execution.Id, CancellationToken.None);
            AssertSameExecution(expected.Execution, actual);
            Assert.Equal(expected.Logs, await Store.GetLogsAsync(expected.Execution.Id, CancellationToken.None));
        }
    }

    [Fact]
    public async Task AddExecutionsAsync_FunctionDeleted_DropsOnlyItsEntries()
    {
        var live = await CreateFunctionAsync("live");
        var gone = await CreateFunctionAsync("gone");
        await Store.DeleteFunctionAsync("gone", CancellationToken.None);
        var never = live with { Id = Guid.CreateVersion7(), Name = "never" };
        var liveRun = NewExecution(live, Start.AddSeconds(1), logLines: 1);
        var goneRun = NewExecution(gone, Start.AddSeconds(2), logLines: 2);
        var neverRun = NewExecution(never, Start.AddSeconds(3));

        var written = await Store.AddExecutionsAsync([goneRun, liveRun, neverRun], CancellationToken.None);

        Assert.Equal([liveRun.Execution.Id], written);
        AssertSameExecution(
            liveRun.Execution,
            await Store.GetExecutionAsync(liveRun.Execution.Id, CancellationToken.None));
        Assert.Null(await Store.GetExecutionAsync(goneRun.Execution.Id, CancellationToken.None));
        Assert.Empty(await Store.GetLogsAsync(goneRun.Execution.Id, CancellationToken.None));
        Assert.Null(await Store.GetExecutionAsync(neverRun.Execution.Id, CancellationToken.None));
    }

    [Fact]
    public async Task AddExecutionsAsync_EmptyBatch_ReturnsNoIds()
    {
        Assert.Empty(await Store.AddExecutionsAsync([], CancellationToken.None));
    }

    [Fact]
    public async Task GetExecutionAsync_UnknownId_ReturnsNull()
    {
        Assert.Null(await Store.GetExecutionAsync(Guid.CreateVersion7(), CancellationToken.None));
    }

    [Fact]
    public async Task ListExecutionsAsync_NoStatus_ReturnsNewestFirstUpToTheLimit()
    {
        var function = await CreateFunctionAsync("listed");
        var other = await CreateFunctionAsync("other");
        var runs = Enumerable.Range(0, 5).Select(i => NewExecution(function, Start.AddSeconds(i))).ToList();

        // Written out of order and in two batches: the order comes from the ids, not from insertion.
        var otherRun = NewExecution(other, Start.AddSeconds(9));
        await Store.AddExecutionsAsync([runs[3], runs[0], otherRun], CancellationToken.None);
        await Store.AddExecutionsAsync([runs[4], runs[1], runs[2]], CancellationToken.None);

        var firstThree = await ListAsync(function.Id, null, 3);
        var all = await ListAsync(function.Id, null, 50);

        Assert.Equal([runs[4], runs[3], runs[2]], firstThree.Select(e => runs.Single(r => r.Execution.Id == e.Id)));
        Assert.Equal(runs.Select(r => r.Execution.Id).Reverse(), all.Select(e => e.Id));
        AssertSameExecution(runs[4].Execution, firstThree[0]);
    }

    [Fact]
    public async Task ListExecutionsAsync_Before_PagesThroughOlderExecutionsToTheEnd()
    {
        var function = await CreateFunctionAsync("paged");
        var statuses = new[]
        {
            ExecutionStatus.Error, ExecutionStatus.Success, ExecutionStatus.Error, ExecutionStatus.Error,
            ExecutionStatus.Success, ExecutionStatus.Error,
        };
        var runs = statuses.Select((status, i) => NewExecution(function, Start.AddSeconds(i), status)).ToList();
        await Store.AddExecutionsAsync(runs, CancellationToken.None);
        var ids = runs.Select(r => r.Execution.Id).ToList();

        var first = await ListAsync(function.Id, null, 4);
        var second = await ListAsync(function.Id, null, 4, first[^1].Id);
        var end = await ListAsync(function.Id, null, 4, second[^1].Id);
        var errorsBefore = await ListAsync(function.Id, ExecutionStatus.Error, 50, ids[3]);
        var beforeAnIdNotStored = await ListAsync(function.Id, null, 50, Guid.CreateVersion7(Start.AddSeconds(2.5)));

        Assert.Equal([ids[5], ids[4], ids[3], ids[2]], first.Select(e => e.Id));
        Assert.Equal([ids[1], ids[0]], second.Select(e => e.Id));
        Assert.Empty(end);
        Assert.Equal([ids[2], ids[0]], errorsBefore.Select(e => e.Id));
        Assert.Equal([ids[2], ids[1], ids[0]], beforeAnIdNotStored.Select(e => e.Id));
    }

    [Fact]
    public async Task ListExecutionsAsync_Status_ReturnsOnlyThatStatusNewestFirst()
    {
        var function = await CreateFunctionAsync("filtered");
        var statuses = new[]
        {
            ExecutionStatus.Error, ExecutionStatus.Success, ExecutionStatus.Error, ExecutionStatus.Timeout,
            ExecutionStatus.Oom, ExecutionStatus.Error, ExecutionStatus.Success,
        };
        var runs = statuses.Select((status, i) => NewExecution(function, Start.AddSeconds(i), status)).ToList();
        await Store.AddExecutionsAsync(runs, CancellationToken.None);

        var errors = await ListAsync(function.Id, ExecutionStatus.Error, 50);
        var latestError = await ListAsync(function.Id, ExecutionStatus.Error, 1);
        var ooms = await ListAsync(function.Id, ExecutionStatus.Oom, 50);

        Assert.Equal([runs[5].Execution.Id, runs[2].Execution.Id, runs[0].Execution.Id], errors.Select(e => e.Id));
        Assert.All(errors, e => Assert.Equal(ExecutionStatus.Error, e.Status));
        Assert.Equal([runs[5].Execution.Id], latestError.Select(e => e.Id));
        Assert.Equal([runs[4].Execution.Id], ooms.Select(e => e.Id));
    }

    [Fact]
    public async Task GetLogsAsync_LinesGivenOutOfOrder_ReturnsThemBySequence()
    {
        var function = await CreateFunctionAsync("chatty");
        var entry = NewExecution(function, Start, logLines: 12);
        var shuffled = entry with { Logs = [.. entry.Logs.Reverse()] };
        await Store.AddExecutionsAsync([shuffled], CancellationToken.None);

        var logs = await Store.GetLogsAsync(entry.Execution.Id, CancellationToken.None);

        Assert.Equal(entry.Logs, logs);
        Assert.Equal(Enumerable.Range(0, 12), logs.Select(l => l.Sequence));
    }

    [Fact]
    public async Task GetLogsAsync_UnknownExecution_ReturnsEmpty()
    {
        Assert.Empty(await Store.GetLogsAsync(Guid.CreateVersion7(), CancellationToken.None));
    }

    [Fact]
    public async Task DeleteExecutionsBeforeAsync_Cutoff_DeletesOlderExecutionsWithTheirLogs()
    {
        var function = await CreateFunctionAsync("aging");
        var cutoff = Start.AddDays(-1);
        var oldest = NewExecution(function, Start.AddDays(-3), logLines: 2);
        var old = NewExecution(function, Start.AddDays(-2), logLines: 1);
        var atCutoff = NewExecution(function, cutoff, logLines: 1);
        var recent = NewExecution(function, Start, logLines: 1);
        await Store.AddExecutionsAsync([oldest, old, atCutoff, recent], CancellationToken.None);

        var deleted = await Store.DeleteExecutionsBeforeAsync(cutoff, CancellationToken.None);

        Assert.Equal(2, deleted);
        var remaining = await ListAsync(function.Id, null, 50);
        Assert.Equal([recent.Execution.Id, atCutoff.Execution.Id], remaining.Select(e => e.Id));
        Assert.Empty(await Store.GetLogsAsync(oldest.Execution.Id, CancellationToken.None));
        Assert.Empty(await Store.GetLogsAsync(old.Execution.Id, CancellationToken.None));
        Assert.Single(await Store.GetLogsAsync(atCutoff.Execution.Id, CancellationToken.None));
        Assert.Equal(function, await Store.GetFunctionAsync("aging", CancellationToken.None));
    }

    [Fact]
    public async Task DeleteExecutionsBeforeAsync_MoreThanOneBatch_DeletesThemAll()
    {
        var store = OpenStore(deleteBatchSize: 4);
        var function = await CreateFunctionAsync("backlog");
        var old = Enumerable.Range(0, 10).Select(i => NewExecution(function, Start.AddDays(-2).AddSeconds(i)));
        var recent = NewExecution(function, Start);
        await Store.AddExecutionsAsync([.. old, recent], CancellationToken.None);

        var deleted = await store.DeleteExecutionsBeforeAsync(Start.AddDays(-1), CancellationToken.None);

        Assert.Equal(10, deleted);
        var remaining = await ListAsync(function.Id, null, 50);
        Assert.Equal([recent.Execution.Id], remaining.Select(e => e.Id));
    }

    [Fact]
    public async Task MigrateAsync_RunAgain_KeepsSchemaAndData()
    {
        var function = await CreateFunctionAsync("survivor");

        await Store.MigrateAsync(CancellationToken.None);
        var second = OpenStore();
        await second.MigrateAsync(CancellationToken.None);

        Assert.Equal(function, await second.GetFunctionAsync("survivor", CancellationToken.None));
        Assert.Equal(1, (await Store.ListFunctionsAsync(1, 10, CancellationToken.None)).Total);
    }

    [Fact]
    public async Task NewStore_AfterRestart_SeesEverythingWritten()
    {
        var function = await CreateFunctionAsync("durable");
        var (updated, _) = await AddVersionAsync(function, "v = 2", Start.AddMinutes(1));
        var run = NewExecution(updated, Start.AddMinutes(2), logLines: 3);
        await Store.AddExecutionsAsync([run], CancellationToken.None);

        await CloseStoresAsync();
        var restarted = OpenStore();
        await restarted.MigrateAsync(CancellationToken.None);

        Assert.Equal(updated, await restarted.GetFunctionAsync("durable", CancellationToken.None));
        var versions = await restarted.ListVersionsAsync(function.Id, CancellationToken.None);
        Assert.Equal([2, 1], versions.Select(v => v.Version));
        AssertSameExecution(run.Execution, await restarted.GetExecutionAsync(run.Execution.Id, CancellationToken.None));
        Assert.Equal(run.Logs, await restarted.GetLogsAsync(run.Execution.Id, CancellationToken.None));
    }

    [Fact]
    public async Task AddVersionAsync_ConcurrentOnTheSameVersionFromTwoStores_StoresOnlyOne()
    {
        var function = await CreateFunctionAsync("one-wins");
        var other = OpenStore();
        IFunctionStore[] stores = [Store, other];

        var results = await RunTogetherAsync(20, async i =>
        {
            var draft = Draft(function, $"v = {i}", Start.AddMinutes(1));
            return await stores[i % 2].AddVersionAsync(function.Id, 1, draft, CancellationToken.None);
        });

        var (winner, version) = Assert.Single(results, r => r is not null)!.Value;
        Assert.Equal(2, version.Version);
        Assert.Equal(winner, await other.GetFunctionAsync("one-wins", CancellationToken.None));
        var versions = await Store.ListVersionsAsync(function.Id, CancellationToken.None);
        Assert.Equal([2, 1], versions.Select(v => v.Version));
        Assert.Equal(version, versions[0]);
    }

    [Fact]
    public async Task AddVersionAsync_ConcurrentFromTwoStoresEachTryingAgainOnTheNewVersion_MakesConsecutiveVersions()
    {
        var function = await CreateFunctionAsync("contended");
        var other = OpenStore();
        IFunctionStore[] stores = [Store, other];

        var results = await RunTogetherAsync(20, async i =>
        {
            var store = stores[i % 2];
            var draft = Draft(function, $"v = {i}", Start.AddMinutes(1));
            while (true)
            {
                var current = await store.GetFunctionAsync("contended", CancellationToken.None);
                var result = await store.AddVersionAsync(
                    function.Id,
                    current!.CurrentVersion,
                    draft,
                    CancellationToken.None);
                if (result is { } added)
                {
                    return added.Version;
                }
            }
        });

        Assert.Equal(Enumerable.Range(2, 20), results.Select(v => v.Version).Order());
        Assert.Equal(
            results.Select(v => v.Code).Order(),
            Enumerable.Range(0, 20).Select(i => $"v = {i}").Order());
        var versions = await Store.ListVersionsAsync(function.Id, CancellationToken.None);
        Assert.Equal(Enumerable.Range(1, 21).Reverse(), versions.Select(v => v.Version));
        Assert.Equal(21, (await other.GetFunctionAsync("contended", CancellationToken.None))!.CurrentVersion);
    }

    [Fact]
    public async Task CreateFunctionAsync_SameNameFromTwoStores_OneWinsAndOneConflicts()
    {
        var other = OpenStore();
        var (first, firstVersion) = NewFunction("race");
        var (second, secondVersion) = NewFunction("race");

        var attempts = await RunTogetherAsync(2, i => CatchAsync(i == 0
            ? Store.CreateFunctionAsync(first, firstVersion, CancellationToken.None)
            : other.CreateFunctionAsync(second, secondVersion, CancellationToken.None)));

        Assert.Single(attempts, exception => exception is null);
        Assert.Single(attempts, exception => exception is FunctionConflictException);
        var winner = await Store.GetFunctionAsync("race", CancellationToken.None);
        Assert.Contains(winner, new[] { first, second });
    }

    /// <summary>Opens a store on this test's database; it is closed when the test ends.</summary>
    /// <param name="deleteBatchSize">How many executions a retention pass deletes per transaction.</param>
    protected IFunctionStore OpenStore(int deleteBatchSize = 1000)
    {
        var store = NewStore(deleteBatchSize);
        _stores.Add(store);
        return store;
    }

    /// <summary>Closes every store opened so far, as a server shutting down would.</summary>
    protected async Task CloseStoresAsync()
    {
        foreach (var store in _stores)
        {
            if (store is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
            else if (store is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }

        _stores.Clear();
    }

    /// <summary>Makes a function named <paramref name="name"/> with its first version, not yet stored.</summary>
    protected static (Function Function, FunctionVersion Version) NewFunction(string name)
    {
        var id = Guid.CreateVersion7();
        const string code = "def handler(event):\n    return event\n";
        var version = new FunctionVersion(id, 1, code, Hash(code), "python", "handler", 128, 30, false, Start);
        var function = new Function(id, name, "python", "handler", 128, 30, false, 1, Start, Start);
        return (function, version);
    }

    /// <summary>Reads a page of a function's executions from the store, whole.</summary>
    protected async Task<List<ExecutionRecord>> ListAsync(
        Guid functionId,
        ExecutionStatus? status,
        int limit,
        Guid? before = null) =>
        await Store.ListExecutionsAsync(functionId, status, before, limit, CancellationToken.None).ToListAsync();

    /// <summary>Stores a new function named <paramref name="name"/> and returns it.</summary>
    protected async Task<Function> CreateFunctionAsync(string name)
    {
        var (function, version) = NewFunction(name);
        await Store.CreateFunctionAsync(function, version, CancellationToken.None);
        return function;
    }

    /// <summary>Makes an execution of <paramref name="function"/>'s current version with some log lines.</summary>
    protected static ExecutionEntry NewExecution(
        Function function,
        DateTimeOffset executedAt,
        ExecutionStatus status = ExecutionStatus.Success,
        int logLines = 0)
    {
        var id = Guid.CreateVersion7(executedAt);
        var succeeded = status == ExecutionStatus.Success;
        var execution = new ExecutionRecord(
            id,
            function.Id,
            function.Name,
            function.CurrentVersion,
            status,
            EventJson,
            succeeded ? """{"greeting": "Hello, CrabLambda!", "count": 3}""" : null,
            succeeded ? null : "Traceback (most recent call last):\n  ValueError: boom",
            12.5,
            23.25,
            executedAt);
        var logs = Enumerable.Range(0, logLines)
            .Select(i => new ExecutionLogLine(
                Guid.CreateVersion7(executedAt),
                id,
                i,
                i % 2 == 0 ? "info" : "error",
                $"line {i}: ünïcødé 🦀",
                executedAt.AddMilliseconds(i)))
            .ToList();
        return new ExecutionEntry(execution, logs);
    }

    /// <summary>
    /// Asserts that an execution read back equals the one written; JSON is compared by value, since an engine may
    /// store it normalised.
    /// </summary>
    protected static void AssertSameExecution(ExecutionRecord expected, ExecutionRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected with { Input = "", Output = null }, actual with { Input = "", Output = null });
        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(expected.Input), JsonNode.Parse(actual.Input)),
            $"Input {actual.Input} differs from {expected.Input}.");
        Assert.Equal(expected.Output is null, actual.Output is null);
        if (expected.Output is not null)
        {
            Assert.True(
                JsonNode.DeepEquals(JsonNode.Parse(expected.Output), JsonNode.Parse(actual.Output!)),
                $"Output {actual.Output} differs from {expected.Output}.");
        }
    }

    private static FunctionVersion Draft(Function function, string code, DateTimeOffset deployedAt) => new(
        function.Id,
        0,
        code,
        Hash(code),
        function.Runtime,
        function.Handler,
        function.MemoryMb,
        function.TimeoutSecs,
        function.Network,
        deployedAt);

    private async Task<(Function Function, FunctionVersion Version)> AddVersionAsync(
        Function function,
        string code,
        DateTimeOffset deployedAt)
    {
        var draft = Draft(function, code, deployedAt);
        var current = await Store.GetFunctionAsync(function.Name, CancellationToken.None);
        var result = await Store.AddVersionAsync(function.Id, current!.CurrentVersion, draft, CancellationToken.None);
        Assert.NotNull(result);
        return result.Value;
    }

    private static string Hash(string code) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code)));

    /// <summary>
    /// Runs <paramref name="count"/> calls on threads of their own, released together. A store whose methods
    /// complete synchronously (SQLite's do) would otherwise run one call after the other on a single pool thread.
    /// </summary>
    private static async Task<T[]> RunTogetherAsync<T>(int count, Func<int, Task<T>> call)
    {
        using var barrier = new Barrier(count);
        var threads = Enumerable.Range(0, count).Select(i => Task.Factory.StartNew(
            () =>
            {
                barrier.SignalAndWait(TimeSpan.FromMinutes(2));
                return call(i).GetAwaiter().GetResult();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default));
        return await Task.WhenAll(threads);
    }

    private static async Task<Exception?> CatchAsync(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (Exception exception)
        {
            return exception;
        }
    }
}
