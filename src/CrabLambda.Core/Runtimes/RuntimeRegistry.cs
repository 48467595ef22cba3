using System.Collections.Frozen;

namespace CrabLambda.Runtimes;

/// <summary>
/// Finds registered runtimes by name or alias.
/// </summary>
internal sealed class RuntimeRegistry
{
    private readonly FrozenDictionary<string, IRuntime> _byName;

    public RuntimeRegistry(IEnumerable<IRuntime> runtimes)
    {
        var byName = new Dictionary<string, IRuntime>(StringComparer.Ordinal);
        foreach (var runtime in runtimes)
        {
            foreach (var name in runtime.Aliases.Prepend(runtime.Name))
            {
                if (!byName.TryAdd(name, runtime) && !ReferenceEquals(byName[name], runtime))
                {
                    throw new InvalidOperationException(
                        $"Two runtimes claim the name '{name}': {byName[name].GetType()} and {runtime.GetType()}.");
                }
            }
        }

        _byName = byName.ToFrozenDictionary(StringComparer.Ordinal);
        Names = runtimes.Select(r => r.Name).Distinct().Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The canonical names of every registered runtime, sorted.</summary>
    public IReadOnlyList<string> Names { get; }

    public bool TryGet(string name, out IRuntime runtime) => _byName.TryGetValue(name, out runtime!);
}
