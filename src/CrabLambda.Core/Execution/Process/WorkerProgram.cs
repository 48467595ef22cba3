using System.Reflection;
using System.Security.Cryptography;

namespace CrabLambda.Execution.Process;

/// <summary>
/// A runtime's worker program, shipped inside the assembly and written once into the work directory under a name
/// that carries its content hash, so that servers of different versions sharing a folder never mix them up.
/// </summary>
internal sealed class WorkerProgram
{
    private readonly byte[] _content;

    public WorkerProgram(Assembly assembly, string resourceName, string workDirectory, string fileName)
    {
        using var stream = assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"The resource {resourceName} is missing from {assembly}.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        _content = copy.ToArray();

        var hash = Convert.ToHexStringLower(SHA256.HashData(_content))[..12];
        var stem = System.IO.Path.GetFileNameWithoutExtension(fileName);
        var name = $"{stem}-{hash}{System.IO.Path.GetExtension(fileName)}";
        Path = System.IO.Path.Combine(workDirectory, "runtimes", name);
    }

    /// <summary>Where the program lives on disk.</summary>
    public string Path { get; }

    /// <summary>Writes the program unless it is there already (a temporary-file cleaner may have removed it).</summary>
    public string Ensure()
    {
        WorkDirectory.WriteFileOnce(Path, _content);
        return Path;
    }
}
