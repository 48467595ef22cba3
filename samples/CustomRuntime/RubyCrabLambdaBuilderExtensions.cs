using CrabLambda.Samples.Ruby;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers the Ruby runtime.
/// </summary>
public static class RubyCrabLambdaBuilderExtensions
{
    /// <summary>Adds the <c>ruby</c> runtime to CrabLambda.</summary>
    /// <param name="builder">The builder from <c>AddCrabLambda</c>.</param>
    /// <returns>The same builder.</returns>
    public static ICrabLambdaBuilder AddRuby(this ICrabLambdaBuilder builder) => builder.AddRuntime<RubyRuntime>();
}
