using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using CrabLambda.Tests.Infrastructure;

namespace CrabLambda.Tests.Packaging;

/// <summary>
/// Packs CrabLambda.Core, CrabLambda.Hosting and CrabLambda.PostgreSql as NuGet packages and uses the first two, as
/// package references only, from a fresh web project that also compiles the Ruby runtime sample against them alone.
/// </summary>
public sealed class PackageTests
{
    private static readonly TimeSpan s_stepTimeout = TimeSpan.FromMinutes(10);

    // PostgreSQL storage is packed and checked too; the fresh project does not use it, for want of a database.
    private static readonly string[] s_packages = ["CrabLambda.Core", "CrabLambda.Hosting", "CrabLambda.PostgreSql"];

    [Fact]
    public async Task Packages_InAFreshProject_MapTheApiAndDeployAndInvokeThroughTheTypedClient()
    {
        Tools.Require("python3");
        Tools.Require("ruby");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? Tools.Require("dotnet");
        var repository = FindRepository();
        var work = Directory.CreateTempSubdirectory("crablambda-packages-").FullName;

        // A version of its own each run: the machine's package cache never holds an older build under it.
        var version = "0.0.0-test." + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var feed = Path.Combine(work, "feed");
        try
        {
            // Packed from a copy, so that the repository's build outputs are left as they are.
            var sources = Path.Combine(work, "sources");
            CopySources(repository, sources);
            Directory.CreateDirectory(feed);
            foreach (var project in s_packages)
            {
                await RunAsync(
                    dotnet,
                    ["pack", Path.Combine(sources, "src", project), "-c", "Release", "-o", feed,
                        "-p:Version=" + version, "--disable-build-servers", "-nologo"],
                    work);
            }

            var app = WriteApp(work, repository, feed, version);
            // The test packages come from the folder whatever the other sources answer.
            await RunAsync(
                dotnet,
                ["build", app, "-c", "Release", "--disable-build-servers", "-nologo",
                    "-p:RestoreIgnoreFailedSources=true"],
                work);
            var output = await RunAsync(
                dotnet,
                ["run", "--project", app, "-c", "Release", "--no-build", "--",
                    "--urls=http://127.0.0.1:0", "--Data=" + Path.Combine(work, "data")],
                work);

            Assert.Contains("python: success \"Hello, package!\"", output, StringComparison.Ordinal);
            Assert.Contains("python log: info hi package", output, StringComparison.Ordinal);
            Assert.Contains("""ruby: success {"ruby":"Hello, package!"}""", output, StringComparison.Ordinal);
            Assert.Contains("http: 200 hello python 1", output, StringComparison.Ordinal);
            Assert.Contains("http without the prefix: 404", output, StringComparison.Ordinal);
            CheckPackage(feed, "CrabLambda.Core", version, dependency: null);
            CheckPackage(feed, "CrabLambda.Hosting", version, dependency: "CrabLambda.Core");
            CheckPackage(feed, "CrabLambda.PostgreSql", version, dependency: "CrabLambda.Core");
        }
        finally
        {
            DeleteCachedPackages(version);
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
                // A worker that was killed may still be releasing its files; the directory is in the temp folder.
            }
        }
    }

    private static void CheckPackage(string feed, string id, string version, string? dependency)
    {
        Assert.True(File.Exists(Path.Combine(feed, $"{id}.{version}.snupkg")), $"{id} has no symbol package.");

        using var package = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg"));
        var entries = package.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains($"lib/net10.0/{id}.dll", entries);
        Assert.Contains($"lib/net10.0/{id}.xml", entries);
        Assert.Contains("README.md", entries);

        XNamespace ns = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd";
        using var nuspecStream = package.GetEntry($"{id}.nuspec")!.Open();
        var metadata = XDocument.Load(nuspecStream).Root!.Element(ns + "metadata")!;
        Assert.Equal("MIT", metadata.Element(ns + "license")?.Value);
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value));
        Assert.Contains("faas", metadata.Element(ns + "tags")?.Value, StringComparison.Ordinal);
        Assert.Null(metadata.Element(ns + "repository")?.Attribute("url"));
        if (dependency is not null)
        {
            var dependencies = metadata.Descendants(ns + "dependency").ToList();
            Assert.Contains(
                dependencies,
                d => d.Attribute("id")?.Value == dependency && d.Attribute("version")?.Value == version);
        }

        using var docs = package.GetEntry($"lib/net10.0/{id}.xml")!.Open();
        Assert.NotEmpty(XDocument.Load(docs).Descendants("member"));
    }

    // A web project that knows CrabLambda only as packages, and a copy of the Ruby runtime sample compiled in it.
    private static string WriteApp(string work, string repository, string feed, string version)
    {
        var app = Path.Combine(work, "app");
        Directory.CreateDirectory(Path.Combine(app, "Ruby"));
        foreach (var file in Directory.GetFiles(Path.Combine(repository, "samples", "CustomRuntime")))
        {
            if (file.EndsWith(".cs", StringComparison.Ordinal) || file.EndsWith(".rb", StringComparison.Ordinal))
            {
                File.Copy(file, Path.Combine(app, "Ruby", Path.GetFileName(file)));
            }
        }

        // The feed is added to the sources the machine already has, which serve the packages' own dependencies.
        File.WriteAllText(
            Path.Combine(app, "nuget.config"),
            $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="crablambda-test-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(
            Path.Combine(app, "PackageCheck.csproj"),
            $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="CrabLambda.Core" Version="{version}" />
                <PackageReference Include="CrabLambda.Hosting" Version="{version}" />
              </ItemGroup>
              <ItemGroup>
                <EmbeddedResource Include="Ruby/bootstrap.rb" LogicalName="CrabLambda.Samples.Ruby.bootstrap.rb" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), AppProgram);
        return app;
    }

    private const string AppProgram =
        """
        using System.Text;
        using CrabLambda;
        using CrabLambda.Execution;
        using CrabLambda.Functions;
        using CrabLambda.Runtimes.Rust;

        var builder = WebApplication.CreateBuilder(args);
        builder.Logging.ClearProviders();
        var data = builder.Configuration["Data"]!;
        builder.Services
            .AddCrabLambda(options => options.WorkDirectory = Path.Combine(data, "work"))
            .AddSqlite(Path.Combine(data, "functions.db"))
            .AddRuby();
        builder.Services.Configure<RustRuntimeOptions>(options => options.WarmUpOnStart = false);

        var app = builder.Build();
        app.MapCrabLambda("/api");
        await app.StartAsync();

        var functions = app.Services.GetRequiredService<IFunctionClient>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await functions.CreateAsync(
            new FunctionDefinition(
                "hello-python",
                "python",
                "def handler(event):\n    print('hi', event['name'])\n    return 'Hello, ' + event['name'] + '!'\n",
                "handler"),
            timeout.Token);
        var python = await functions.InvokeAsync(
            "hello-python",
            Encoding.UTF8.GetBytes("{\"name\":\"package\"}"),
            cancellationToken: timeout.Token);
        Console.WriteLine($"python: {python.Status.ToName()} {python.Output}");
        foreach (var line in await functions.GetLogsAsync(python.ExecutionId, timeout.Token))
        {
            Console.WriteLine($"python log: {line.Level} {line.Message}");
        }

        await functions.CreateAsync(
            new FunctionDefinition(
                "hello-ruby",
                "ruby",
                "def handler(event)\n  { 'ruby' => \"Hello, #{event['name']}!\" }\nend\n",
                "handler"),
            timeout.Token);
        var ruby = await functions.InvokeAsync(
            "hello-ruby",
            Encoding.UTF8.GetBytes("{\"name\":\"package\"}"),
            cancellationToken: timeout.Token);
        Console.WriteLine($"ruby: {ruby.Status.ToName()} {ruby.Output}");

        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
        var response = await http.GetAsync("/api/functions/hello-python", timeout.Token);
        var function = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(timeout.Token));
        Console.WriteLine(
            $"http: {(int)response.StatusCode} hello {function.RootElement.GetProperty("runtime").GetString()} "
                + function.RootElement.GetProperty("current_version").GetInt32());
        var unmapped = await http.GetAsync("/functions/hello-python", timeout.Token);
        Console.WriteLine($"http without the prefix: {(int)unmapped.StatusCode}");

        await app.StopAsync();
        """;

    private static void CopySources(string repository, string destination)
    {
        foreach (var file in new[]
            { "Directory.Build.props", "Directory.Packages.props", "nuget.config", ".editorconfig" })
        {
            Directory.CreateDirectory(destination);
            File.Copy(Path.Combine(repository, file), Path.Combine(destination, file));
        }

        foreach (var project in s_packages)
        {
            CopyTree(Path.Combine(repository, "src", project), Path.Combine(destination, "src", project));
        }
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var folder in Directory.GetDirectories(from))
        {
            var name = Path.GetFileName(folder);
            if (name is not ("bin" or "obj"))
            {
                CopyTree(folder, Path.Combine(to, name));
            }
        }
    }

    private static string FindRepository()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "CrabLambda.sln")))
        {
            directory = directory.Parent;
        }

        Assert.True(directory is not null, "The test runs outside the repository it was built from.");
        return directory!.FullName;
    }

    // Restoring extracted the test packages into the machine's package cache; they are of no use to anyone else.
    private static void DeleteCachedPackages(string version)
    {
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in s_packages.Select(p => p.ToLowerInvariant()))
        {
            var versions = Path.Combine(cache, id);
            var folder = Path.Combine(versions, version);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }

            if (Directory.Exists(versions) && !Directory.EnumerateFileSystemEntries(versions).Any())
            {
                Directory.Delete(versions);
            }
        }
    }

    private static async Task<string> RunAsync(string program, IReadOnlyList<string> arguments, string directory)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // The test host's own MSBuild settings would point the child build at the wrong SDK parts.
        var msbuildVariables = start.Environment.Keys
            .Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase))
            .ToList();
        foreach (var name in msbuildVariables)
        {
            start.Environment.Remove(name);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var stdout = PumpAsync(process.StandardOutput, output);
        var stderr = PumpAsync(process.StandardError, output);
        using var timeout = new CancellationTokenSource(s_stepTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            await Task.WhenAll(stdout, stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} did not finish in {s_stepTimeout}:\n{output}");
        }

        Assert.True(
            process.ExitCode == 0,
            $"dotnet {string.Join(' ', arguments)} failed with exit code {process.ExitCode}:\n{output}");
        return output.ToString();
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder into)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (into)
            {
                into.AppendLine(line);
            }
        }
    }
}
