using System.Security.Cryptography;

namespace CrabLambda.Execution.Process;

/// <summary>
/// The folder where the executor and the built-in runtimes keep code, worker programs, private folders and sockets.
/// </summary>
internal static class WorkDirectory
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The configured work directory, or <c>crablambda</c> under the system's temporary folder.</summary>
    public static string Resolve(CrabLambdaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        return Path.GetFullPath(options.WorkDirectory ?? Path.Combine(Path.GetTempPath(), "crablambda"));
    }

    /// <summary>Creates a folder (and its parents) that only the server's user can enter.</summary>
    public static string CreatePrivate(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, OwnerOnly);
        }

        return path;
    }

    /// <summary>
    /// Writes a file unless it is already there, atomically, so that a concurrent reader never sees half of it.
    /// </summary>
    public static void WriteFileOnce(string path, ReadOnlySpan<byte> content)
    {
        if (File.Exists(path))
        {
            return;
        }

        CreatePrivate(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp";
        using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(content);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Deletes a folder and everything in it; a folder already gone or still busy is left alone.</summary>
    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A function may have left files it made read-only or a folder it locked; the folder is under the temporary
            // directory, so leaving it costs only disk space.
        }
    }

    /// <summary>A short random name for files and folders.</summary>
    public static string NewName(int bytes = 6) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}
