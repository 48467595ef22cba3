using System.Buffers;
using System.Collections;
using System.Diagnostics;
using System.Text.Json;
using CrabLambda.Execution;
using CrabLambda.Execution.Process;
using CrabLambda.Functions;
using CrabLambda.Runtimes;
using CrabLambda.Server;
using CrabLambda.Server.Configuration;
using CrabLambda.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CrabLambda.Bench.Serve;

/// <summary>
/// The server side of the benchmark, run in a process of its own so that its CPU time can be read apart from the
/// load generator's: the reference server, built from the variables in this process's environment, with a no-op
/// endpoint on the same Kestrel set-up and a few routes under <c>/bench</c> that the benchmark drives.
/// </summary>
internal static class BenchServer
{
    /// <summary>The line the server prints on stdout once it listens, followed by its address.</summary>
    public const string ListeningLine = "crablambda-bench-listening ";

    private static readonly byte[] NoopResponse = """{"status":"success","output":null}"""u8.ToArray();

    public static async Task<int> RunAsync()
    {
        var variables = Environment.GetEnvironmentVariables()
            .Cast<DictionaryEntry>()
            .ToDictionary(entry => (string)entry.Key, entry => (string?)entry.Value, StringComparer.Ordinal);

        WebApplication app;
        try
        {
            app = CrabLambdaServer.Build(["--Logging:LogLevel:Default=Warning"], variables, Configure);
        }
        catch (ServerConfigurationException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message);
            return 2;
        }

        await using (app)
        {
            MapBenchRoutes(app);
            try
            {
                await app.StartAsync();
            }
            catch (Exception exception)
            {
                await Console.Error.WriteLineAsync("The server could not start: " + exception.Message);
                return 3;
            }

            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>();
            await Console.Out.WriteLineAsync(ListeningLine + addresses!.Addresses.First());
            await Console.Out.FlushAsync();

            // The benchmark closes stdin to stop the server, and so does its end if it dies.
            await Task.Run(() => Console.OpenStandardInput().CopyTo(Stream.Null));
            await app.StopAsync();
        }

        return 0;
    }

    private static void Configure(WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<PhaseTimings>();

        var store = services.Last(descriptor => descriptor.ServiceType == typeof(IFunctionStore));
        services.RemoveAll<IFunctionStore>();
        services.AddSingleton(provider => new BenchStore(
            CreateStore(store, provider),
            provider.GetRequiredService<PhaseTimings>()));
        services.AddSingleton<IFunctionStore>(provider => provider.GetRequiredService<BenchStore>());

        // The executor is still the one the server registers, built with whatever launcher the server chose.
        services.AddSingleton<ProcessExecutor>();
        services.Replace(ServiceDescriptor.Singleton<IExecutor>(provider => new TimedExecutor(
            provider.GetRequiredService<ProcessExecutor>(),
            provider.GetRequiredService<PhaseTimings>())));
        services.AddHostedService(provider => new ExecutorLifetime(
            provider.GetRequiredService<ProcessExecutor>(),
            provider.GetServices<IRuntime>()));

        services.AddSingleton<FunctionClient>();
        services.Replace(ServiceDescriptor.Singleton<IFunctionClient>(provider => new TimedFunctionClient(
            provider.GetRequiredService<FunctionClient>(),
            provider.GetRequiredService<PhaseTimings>())));
    }

    private static IFunctionStore CreateStore(ServiceDescriptor descriptor, IServiceProvider provider) =>
        descriptor switch
        {
            { ImplementationFactory: { } factory } => (IFunctionStore)factory(provider),
            { ImplementationInstance: IFunctionStore instance } => instance,
            { ImplementationType: { } type } => (IFunctionStore)ActivatorUtilities.CreateInstance(provider, type),
            _ => throw new InvalidOperationException("The server registered its store in a way the bench cannot wrap."),
        };

    private static void MapBenchRoutes(WebApplication app)
    {
        var timings = app.Services.GetRequiredService<PhaseTimings>();
        app.Use(async (context, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            await next(context);
            if (context.Request.Path.StartsWithSegments(CrabLambdaServer.ApiPrefix))
            {
                timings.RecordSince(PhaseTimings.Request, started);
            }
        });

        // The floor of the HTTP set-up: read the body, answer a small JSON object, nothing else.
        app.MapPost("/bench/noop", async (HttpRequest request) =>
        {
            while (true)
            {
                var read = await request.BodyReader.ReadAsync();
                request.BodyReader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            return Results.Bytes(NoopResponse, "application/json");
        });

        app.MapPost("/bench/persistence", (bool on, BenchStore store) =>
        {
            store.Persist = on;
            return Results.NoContent();
        });

        app.MapGet("/bench/phases", (PhaseTimings phases) => Results.Json(phases.Summarize()));
        app.MapDelete("/bench/phases", (PhaseTimings phases) =>
        {
            phases.Reset();
            return Results.NoContent();
        });

        app.MapGet("/bench/workers/{name}", async (string name, BenchStore store, ProcessExecutor executor) =>
        {
            var function = await store.Inner.GetFunctionAsync(name, CancellationToken.None);
            return function is null
                ? Results.NotFound()
                : Results.Json(executor.GetWorkerProcessIds(function.Id));
        });

        app.MapPost("/bench/seed", SeedAsync);
    }

    /// <summary>
    /// Writes <paramref name="count"/> execution records of a function straight through the store, in large
    /// batches, every <paramref name="errorEvery"/>th one an error. They are dated within the last day, newest last,
    /// so that retention keeps them and their version 7 ids sort as an invoked history would.
    /// </summary>
    private static async Task<IResult> SeedAsync(
        string function,
        int count,
        int errorEvery,
        int batch,
        BenchStore store,
        TimeProvider time)
    {
        var found = await store.Inner.GetFunctionAsync(function, CancellationToken.None);
        if (found is null)
        {
            return Results.NotFound();
        }

        var started = Stopwatch.GetTimestamp();
        var now = time.GetUtcNow();
        var first = now - TimeSpan.FromDays(1);
        var step = TimeSpan.FromDays(1) / Math.Max(count, 1);
        var entries = new List<ExecutionEntry>(batch);
        for (var i = 0; i < count; i++)
        {
            var at = first + step * i;
            var failed = errorEvery > 0 && i % errorEvery == errorEvery - 1;
            var execution = new Execution.Execution(
                Guid.CreateVersion7(at),
                found.Id,
                found.Name,
                found.CurrentVersion,
                failed ? ExecutionStatus.Error : ExecutionStatus.Success,
                """{"n":1}""",
                failed ? null : "\"ok\"",
                failed ? "Exception: seeded failure" : null,
                1.25,
                12.5,
                at);
            entries.Add(new ExecutionEntry(execution, []));
            if (entries.Count == batch || i == count - 1)
            {
                await store.Inner.AddExecutionsAsync(entries, CancellationToken.None);
                entries.Clear();
            }
        }

        return Results.Json(new { elapsed_ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds });
    }

    /// <summary>What the server's lifetime service does for an executor it cannot see behind the timing.</summary>
    private sealed class ExecutorLifetime(ProcessExecutor executor, IEnumerable<IRuntime> runtimes) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            executor.StartGenericWorkers(runtimes);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => executor.ShutdownAsync();
    }
}
