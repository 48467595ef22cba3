using System.Text;
using CrabLambda.Execution;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Moq;
using ExecutionRecord = CrabLambda.Execution.Execution;

namespace CrabLambda.Tests.Functions;

public sealed class FunctionClientTests : IAsyncDisposable
{
    // On the real clock, so that a deploy that the shutdown grace fails to end fails its test instead of hanging it.
    private static readonly TimeSpan TestWait = TimeSpan.FromSeconds(30);

    private readonly Mock<IFunctionStore> _store = new();
    private readonly Mock<IExecutor> _executor = new();
    private readonly Mock<IRuntime> _runtime = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
    private readonly CrabLambdaOptions _options = new() { MaxFunctionSizeMb = 1 };
    private readonly ExecutionRecorder _recorder;
    private readonly DeployShutdown _shutdown;
    private readonly FunctionClient _client;

    private static IReadOnlyList<ExecutionEntry> AnyEntries => It.IsAny<IReadOnlyList<ExecutionEntry>>();

    public FunctionClientTests()
    {
        _runtime.SetupGet(r => r.Name).Returns("python");
        _runtime.SetupGet(r => r.Aliases).Returns(["py"]);
        _runtime.Setup(r => r.ValidateHandler(It.IsAny<string>()))
            .Returns((string h) => h.Contains('.') ? "bad handler" : null);
        _store.Setup(s => s.AddExecutionsAsync(AnyEntries, It.IsAny<CancellationToken>()))
            .ReturnsAsync((IReadOnlyList<ExecutionEntry> entries, CancellationToken _) =>
                entries.Select(e => e.Execution.Id).ToHashSet());

        var options = Options.Create(_options);
        _recorder = new ExecutionRecorder(_store.Object, NullLogger<ExecutionRecorder>.Instance);
        _shutdown = new DeployShutdown(options, _time);
        _client = new FunctionClient(
            _store.Object,
            _executor.Object,
            new RuntimeRegistry([_runtime.Object]),
            new ExecutionLimiter(options),
            _recorder,
            new RunningExecutions(),
            _shutdown,
            options,
            _time,
            NullLogger<FunctionClient>.Instance);
    }

    public async ValueTask DisposeAsync()
    {
        _shutdown.Dispose();
        await _recorder.DisposeAsync();
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("has space")]
    [InlineData("-leading")]
    [InlineData("_leading")]
    [InlineData("tab\there")]
    [InlineData("trailing-newline\n")]
    public async Task CreateAsync_InvalidName_ThrowsNamingTheFieldAndStoresNothing(string name)
    {
        var ex = await Assert.ThrowsAsync<FunctionValidationException>(
            () => _client.CreateAsync(new FunctionDefinition(name, "python", "x = 1", "handler")));

        Assert.Contains("name", ex.Errors.Keys);
        VerifyNoFunctionCreated();
    }

    [Fact]
    public async Task CreateAsync_NameOf300Characters_IsRejected()
    {
        var ex = await Assert.ThrowsAsync<FunctionValidationException>(
            () => _client.CreateAsync(new FunctionDefinition(new string('a', 300), "python", "x = 1", "handler")));

        Assert.Contains("name", ex.Errors.Keys);
    }

    [Fact]
    public async Task CreateAsync_SeveralBadFields_NamesEachOne()
    {
        var ex = await Assert.ThrowsAsync<FunctionValidationException>(
            () => _client.CreateAsync(new FunctionDefinition("ok", "cobol", "", "", MemoryMb: 0, TimeoutSecs: 0)));

        Assert.Equal(
            ["code", "handler", "memory_mb", "runtime", "timeout_secs"],
            ex.Errors.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(0, 30)]
    [InlineData(20000, 30)]
    [InlineData(128, 0)]
    [InlineData(128, 301)]
    public async Task CreateAsync_LimitsOutOfRange_AreRejected(int memory, int timeout)
    {
        await Assert.ThrowsAsync<FunctionValidationException>(
            () => _client.CreateAsync(new FunctionDefinition("f", "python", "x", "h", memory, timeout)));
    }

    [Fact]
    public async Task CreateAsync_CodeOverTheLimit_ThrowsCodeTooLarge()
    {
        var code = new string('x', 1024 * 1024 + 1);

        await Assert.ThrowsAsync<CodeTooLargeException>(
            () => _client.CreateAsync(new FunctionDefinition("f", "python", code, "handler")));
    }

    [Fact]
    public async Task CreateAsync_Alias_StoresCanonicalRuntimeAndDefaults()
    {
        Function? stored = null;
        FunctionVersion? version = null;
        _store.Setup(s => s.CreateFunctionAsync(It.IsAny<Function>(), It.IsAny<FunctionVersion>(), default))
            .Callback((Function f, FunctionVersion v, CancellationToken _) => (stored, version) = (f, v))
            .Returns(Task.CompletedTask);

        var created = await _client.CreateAsync(new FunctionDefinition("hello", "py", "print(1)", "handler"));

        Assert.Equal("python", created.Runtime);
        Assert.Equal(1, created.CurrentVersion);
        Assert.Equal(_options.DefaultMemoryMb, created.MemoryMb);
        Assert.Equal(_options.DefaultTimeoutSecs, created.TimeoutSecs);
        Assert.Equal(created, stored);
        Assert.Equal(FunctionClient.HashCode("print(1)"), version!.CodeHash);
        _runtime.Verify(r => r.PrepareAsync(version, It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public void HashCode_IsLowercaseHexSha256()
    {
        Assert.Equal(
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            FunctionClient.HashCode("hello"));
    }

    [Fact]
    public async Task CreateAsync_NameTaken_ThrowsConflictWithoutPreparing()
    {
        _store.Setup(s => s.GetFunctionAsync("taken", It.IsAny<CancellationToken>())).ReturnsAsync(Existing("taken"));

        await Assert.ThrowsAsync<FunctionConflictException>(
            () => _client.CreateAsync(new FunctionDefinition("taken", "python", "x", "handler")));

        _runtime.Verify(r => r.PrepareAsync(It.IsAny<FunctionVersion>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task UpdateAsync_NothingChanges_MakesNoVersion()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x = 1"));

        var result = await _client.UpdateAsync("f", new FunctionUpdate(Code: "x = 1", MemoryMb: 128));

        Assert.Same(function, result);
        VerifyNoVersionAdded();
    }

    [Fact]
    public async Task UpdateAsync_CodeChanges_AddsVersionWithNewHash()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x = 1"));
        FunctionVersion? draft = null;
        _store.Setup(s => s.AddVersionAsync(function.Id, 1, It.IsAny<FunctionVersion>(), It.IsAny<CancellationToken>()))
            .Callback((Guid _, int _, FunctionVersion v, CancellationToken _) => draft = v)
            .ReturnsAsync((Guid _, int _, FunctionVersion v, CancellationToken _) =>
                (function with { CurrentVersion = 2 }, v with { Version = 2 }));

        var result = await _client.UpdateAsync("f", new FunctionUpdate(Code: "x = 2"));

        Assert.Equal(2, result.CurrentVersion);
        Assert.Equal("x = 2", draft!.Code);
        Assert.Equal(FunctionClient.HashCode("x = 2"), draft.CodeHash);
        Assert.Equal("handler", draft.Handler);
    }

    [Fact]
    public async Task UpdateAsync_AnotherUpdateCameFirst_MakesTheUpdateAgainOnWhatIsCurrentNow()
    {
        var function = Existing("f");
        var changed = function with { MemoryMb = 256, CurrentVersion = 2 };
        _store.SetupSequence(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>()))
            .ReturnsAsync(function)
            .ReturnsAsync(changed);
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x = 1"));
        _store.Setup(s => s.GetVersionAsync(function.Id, 2, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(changed, "x = 1"));
        var drafts = new List<(int BasedOn, FunctionVersion Draft)>();
        _store.Setup(s => s.AddVersionAsync(
                function.Id,
                It.IsAny<int>(),
                It.IsAny<FunctionVersion>(),
                It.IsAny<CancellationToken>()))
            .Callback((Guid _, int basedOn, FunctionVersion v, CancellationToken _) => drafts.Add((basedOn, v)))
            .ReturnsAsync((Guid _, int basedOn, FunctionVersion v, CancellationToken _) => basedOn == 2
                ? (changed with { CurrentVersion = 3 }, v with { Version = 3 })
                : null);

        var result = await _client.UpdateAsync("f", new FunctionUpdate(Code: "x = 2"));

        Assert.Equal(3, result.CurrentVersion);
        Assert.Equal([1, 2], drafts.Select(d => d.BasedOn));
        var stored = drafts[1].Draft;
        Assert.Equal("x = 2", stored.Code);
        Assert.Equal(256, stored.MemoryMb);
    }

    [Fact]
    public async Task CreateAsync_CodeStillPreparedWhenTheShutdownGraceEnds_ThrowsServerStoppingAndStoresNothing()
    {
        _options.ShutdownGrace = TimeSpan.FromSeconds(20);
        var preparing = PrepareUntilCancelled();

        var create = _client.CreateAsync(new FunctionDefinition("slow", "python", "x = 1", "handler"));
        await preparing.Task;
        await _shutdown.StoppingAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(19));
        var stillPreparing = !create.IsCompleted;
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(stillPreparing, "the deploy ended before the shutdown grace did");
        var error = await Assert.ThrowsAsync<ServerStoppingException>(() => create.WaitAsync(TestWait));
        Assert.Contains("nothing was deployed", error.Message);
        VerifyNoFunctionCreated();
    }

    [Fact]
    public async Task UpdateAsync_CodeStillPreparedWhenTheShutdownGraceEnds_ThrowsServerStoppingAndAddsNoVersion()
    {
        _options.ShutdownGrace = TimeSpan.FromSeconds(20);
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x = 1"));
        var preparing = PrepareUntilCancelled();

        var update = _client.UpdateAsync("f", new FunctionUpdate(Code: "x = 2"));
        await preparing.Task;
        await _shutdown.StoppingAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(20));

        await Assert.ThrowsAsync<ServerStoppingException>(() => update.WaitAsync(TestWait));
        VerifyNoVersionAdded();
    }

    [Fact]
    public async Task CreateAsync_CodePreparedWithinTheShutdownGrace_IsStoredAsUsual()
    {
        _options.ShutdownGrace = TimeSpan.FromSeconds(20);
        var prepared = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _runtime.Setup(r => r.PrepareAsync(It.IsAny<FunctionVersion>(), It.IsAny<CancellationToken>()))
            .Returns(prepared.Task);

        var create = _client.CreateAsync(new FunctionDefinition("slow", "python", "x = 1", "handler"));
        await _shutdown.StoppingAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(19));
        prepared.SetResult();
        var function = await create;

        Assert.Equal(("slow", 1), (function.Name, function.CurrentVersion));
        _store.Verify(
            s => s.CreateFunctionAsync(function, It.IsAny<FunctionVersion>(), It.IsAny<CancellationToken>()),
            Times.Once);
    }

    [Fact]
    public async Task UpdateAsync_FunctionReplacedUnderTheSameName_ThrowsNotFound()
    {
        var function = Existing("f");
        _store.SetupSequence(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>()))
            .ReturnsAsync(function)
            .ReturnsAsync(Existing("f"));
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x = 1"));
        _store.Setup(s => s.AddVersionAsync(
                function.Id,
                1,
                It.IsAny<FunctionVersion>(),
                It.IsAny<CancellationToken>()))
            .ReturnsAsync(((Function, FunctionVersion)?)null);

        await Assert.ThrowsAsync<NotFoundException>(() => _client.UpdateAsync("f", new FunctionUpdate(Code: "x = 2")));
    }

    [Fact]
    public async Task UpdateAsync_UnknownFunction_ThrowsNotFound()
    {
        await Assert.ThrowsAsync<NotFoundException>(() => _client.UpdateAsync("nope", new FunctionUpdate(Code: "x")));
    }

    [Fact]
    public async Task RollbackAsync_MissingVersion_ThrowsNotFoundAndChangesNothing()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);

        await Assert.ThrowsAsync<NotFoundException>(() => _client.RollbackAsync("f", 7));

        _store.Verify(
            s => s.SetCurrentVersionAsync(
                It.IsAny<Guid>(),
                It.IsAny<int>(),
                It.IsAny<DateTimeOffset>(),
                It.IsAny<CancellationToken>()),
            Times.Never);
    }

    [Theory]
    [InlineData("{")]
    [InlineData("not json")]
    [InlineData("{} {}")]
    public async Task InvokeAsync_InvalidEvent_ThrowsBeforeRunning(string body)
    {
        await Assert.ThrowsAsync<FunctionValidationException>(
            () => _client.InvokeAsync("f", Encoding.UTF8.GetBytes(body)));

        _executor.Verify(e => e.ExecuteAsync(It.IsAny<ExecutionRequest>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task InvokeAsync_EmptyBody_RunsWithEmptyObjectAndRecordsLogsInOrder()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x"));
        string? seenEvent = null;
        _executor.Setup(e => e.ExecuteAsync(It.IsAny<ExecutionRequest>(), It.IsAny<CancellationToken>()))
            .Callback((ExecutionRequest r, CancellationToken _) => seenEvent = Encoding.UTF8.GetString(r.Event.Span))
            .ReturnsAsync(new ExecutionOutcome(
                ExecutionStatus.Success,
                "\"hi\"",
                null,
                1.5,
                12,
                [new LogEntry("info", "one", _time.GetUtcNow()), new LogEntry("error", "two", _time.GetUtcNow())]));
        ExecutionEntry? recorded = null;
        _store.Setup(s => s.AddExecutionsAsync(AnyEntries, It.IsAny<CancellationToken>()))
            .Callback((IReadOnlyList<ExecutionEntry> entries, CancellationToken _) => recorded = entries.Single())
            .ReturnsAsync((IReadOnlyList<ExecutionEntry> entries, CancellationToken _) =>
                entries.Select(e => e.Execution.Id).ToHashSet());

        var result = await _client.InvokeAsync("f", ReadOnlyMemory<byte>.Empty);

        Assert.Equal("{}", seenEvent);
        Assert.Equal(ExecutionStatus.Success, result.Status);
        Assert.Equal("\"hi\"", result.Output);
        Assert.Equal(result.ExecutionId, recorded!.Execution.Id);
        Assert.Equal("{}", recorded.Execution.Input);
        Assert.Equal(["one", "two"], recorded.Logs.Select(l => l.Message));
        Assert.Equal([0, 1], recorded.Logs.Select(l => l.Sequence));
    }

    [Fact]
    public async Task InvokeAsync_FunctionDeletedWhileRunning_ThrowsNotFound()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x"));
        _executor.Setup(e => e.ExecuteAsync(It.IsAny<ExecutionRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ExecutionOutcome(ExecutionStatus.Success, "1", null, 1, null, []));
        _store.Setup(s => s.AddExecutionsAsync(AnyEntries, It.IsAny<CancellationToken>()))
            .ReturnsAsync(new HashSet<Guid>());

        await Assert.ThrowsAsync<NotFoundException>(() => _client.InvokeAsync("f", "{}"u8.ToArray()));
    }

    [Fact]
    public async Task InvokeAsync_StoreFailsToRecord_ThrowsExecutionNotRecordedWithTheStoresFailure()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        _store.Setup(s => s.GetVersionAsync(function.Id, 1, It.IsAny<CancellationToken>()))
            .ReturnsAsync(VersionOf(function, "x"));
        _executor.Setup(e => e.ExecuteAsync(It.IsAny<ExecutionRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ExecutionOutcome(ExecutionStatus.Success, "1", null, 1, null, []));
        var failure = new Microsoft.Data.Sqlite.SqliteException("SQLite Error 5: 'database is locked'.", 5);
        _store.Setup(s => s.AddExecutionsAsync(AnyEntries, It.IsAny<CancellationToken>())).ThrowsAsync(failure);

        var ex = await Assert.ThrowsAsync<ExecutionNotRecordedException>(
            () => _client.InvokeAsync("f", "{}"u8.ToArray()));

        Assert.Same(failure, ex.InnerException);
        Assert.Contains("'f' ran", ex.Message);
        _executor.Verify(
            e => e.ExecuteAsync(It.IsAny<ExecutionRequest>(), It.IsAny<CancellationToken>()),
            Times.Once);
    }

    [Fact]
    public async Task ListExecutionsAsync_LargeExecutions_EndThePageOnceItsTextPassesTheLimitAndReadNoFurther()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        var quarter = (int)(FunctionClient.MaxPageText / 4);
        var read = 0;
        async IAsyncEnumerable<ExecutionRecord> Stored()
        {
            for (var i = 0; i < 10; i++)
            {
                read++;
                await Task.Yield();
                yield return new ExecutionRecord(
                    Guid.CreateVersion7(), function.Id, "f", 1, ExecutionStatus.Error, new string('1', quarter - 100),
                    null, new string('e', 99), 1, null, _time.GetUtcNow());
            }
        }

        var before = Guid.CreateVersion7();
        _store
            .Setup(s => s.ListExecutionsAsync(
                function.Id,
                ExecutionStatus.Error,
                before,
                50,
                It.IsAny<CancellationToken>()))
            .Returns(Stored);

        var page = await _client.ListExecutionsAsync("f", ExecutionStatus.Error, 50, before);

        // Four together hold just under the limit; the fifth passes it and is the page's last.
        Assert.Equal(5, page.Count);
        Assert.Equal(5, read);
    }

    [Fact]
    public async Task ListExecutionsAsync_SmallExecutions_EndThePageAtTheLimit()
    {
        var function = Existing("f");
        _store.Setup(s => s.GetFunctionAsync("f", It.IsAny<CancellationToken>())).ReturnsAsync(function);
        var stored = Enumerable.Range(0, 3)
            .Select(_ => new ExecutionRecord(
                Guid.CreateVersion7(), function.Id, "f", 1, ExecutionStatus.Success, "{}", "1", null, 1, null,
                _time.GetUtcNow()))
            .ToList();
        _store.Setup(s => s.ListExecutionsAsync(function.Id, null, null, 3, It.IsAny<CancellationToken>()))
            .Returns(stored.ToAsyncEnumerable());

        var page = await _client.ListExecutionsAsync("f", limit: 3);

        Assert.Equal(stored, page);
    }

    /// <summary>
    /// Makes the runtime prepare until its preparation is cancelled; the returned source completes once one started.
    /// </summary>
    private TaskCompletionSource PrepareUntilCancelled()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _runtime.Setup(r => r.PrepareAsync(It.IsAny<FunctionVersion>(), It.IsAny<CancellationToken>()))
            .Returns(async (FunctionVersion _, CancellationToken cancellationToken) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            });
        return started;
    }

    private void VerifyNoFunctionCreated() =>
        _store.Verify(
            s => s.CreateFunctionAsync(
                It.IsAny<Function>(),
                It.IsAny<FunctionVersion>(),
                It.IsAny<CancellationToken>()),
            Times.Never);

    private void VerifyNoVersionAdded() =>
        _store.Verify(
            s => s.AddVersionAsync(
                It.IsAny<Guid>(),
                It.IsAny<int>(),
                It.IsAny<FunctionVersion>(),
                It.IsAny<CancellationToken>()),
            Times.Never);

    private Function Existing(string name) =>
        new(Guid.CreateVersion7(), name, "python", "handler", 128, 30, false, 1, _time.GetUtcNow(), _time.GetUtcNow());

    private FunctionVersion VersionOf(Function function, string code) =>
        new(
            function.Id,
            function.CurrentVersion,
            code,
            FunctionClient.HashCode(code),
            function.Runtime,
            function.Handler,
            function.MemoryMb,
            function.TimeoutSecs,
            function.Network,
            function.CreatedAt);
}
