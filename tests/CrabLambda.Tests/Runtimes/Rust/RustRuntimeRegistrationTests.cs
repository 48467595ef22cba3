using CrabLambda.Runtimes;
using CrabLambda.Runtimes.Rust;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CrabLambda.Tests.Runtimes.Rust;

public sealed class RustRuntimeRegistrationTests
{
    [Fact]
    public void AddCrabLambda_Default_RegistersTheRustRuntimeAndItsWarmUpOnce()
    {
        var services = new ServiceCollection().AddLogging();

        services.AddCrabLambda();
        services.AddCrabLambda();
        using var provider = services.BuildServiceProvider();

        var rust = Assert.Single(provider.GetServices<IRuntime>(), runtime => runtime.Name == "rust");
        Assert.IsType<RustRuntime>(rust);
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService)
            && d.ImplementationType == typeof(RustWarmUpService));
    }

    [Fact]
    public void RustRuntimeOptions_InvalidValues_FailValidationNamingEachSetting()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddCrabLambda();
        services.Configure<RustRuntimeOptions>(options =>
        {
            options.CompileTimeout = TimeSpan.Zero;
            options.MaxConcurrentCompiles = 0;
            options.CacheDirectory = "relative/cache";
        });
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(
            () => provider.GetRequiredService<IOptions<RustRuntimeOptions>>().Value);

        Assert.Contains(nameof(RustRuntimeOptions.CompileTimeout), error.Message);
        Assert.Contains(nameof(RustRuntimeOptions.MaxConcurrentCompiles), error.Message);
        Assert.Contains(nameof(RustRuntimeOptions.CacheDirectory), error.Message);
    }
}
