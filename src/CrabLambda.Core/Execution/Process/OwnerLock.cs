using System.Text;

namespace CrabLambda.Execution.Process;

/// <summary>
/// A lock file that a server holds with <c>flock</c> for as long as it uses a folder of the work directory. The
/// kernel lets go of the lock when the server's process ends in any way, SIGKILL included, so a folder whose lock can
/// be taken has no live owner, whichever server, on this host, made it.
/// </summary>
internal sealed class OwnerLock : IDisposable
{
    private readonly FileStream _file;

    private OwnerLock(FileStream file, string path)
    {
        _file = file;
        Path = path;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>
    /// Takes the lock, creating the file if needed; null when another open of it holds the lock.
    /// </summary>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    public static OwnerLock? TryTake(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(
                path,
                FileMode.OpenOrCreate,
                FileAccess.ReadWrite,
                FileShare.ReadWrite | FileShare.Delete);
        }
        catch (IOException) when (File.Exists(path))
        {
            // .NET takes a shared flock of its own when it opens a file, and fails when the owner's lock is there.
            return null;
        }

        // Taken explicitly, so that it holds even where .NET's own file locking is turned off.
        if (NativeMethods.Flock(file.SafeFileHandle, NativeMethods.LockExclusive | NativeMethods.LockNonBlocking) != 0)
        {
            file.Dispose();
            return null;
        }

        return new OwnerLock(file, path);
    }

    /// <summary>Replaces the file's text, which says who holds it for a person who looks.</summary>
    public void Write(string text)
    {
        _file.SetLength(0);
        _file.Position = 0;
        _file.Write(Encoding.UTF8.GetBytes(text));
        _file.Flush();
    }

    /// <summary>The file's text.</summary>
    public string Read()
    {
        _file.Position = 0;
        using var reader = new StreamReader(_file, Encoding.UTF8, leaveOpen: true);
        return reader.ReadToEnd();
    }

    /// <summary>Deletes the lock file while still holding it, then lets go of the lock.</summary>
    public void Delete()
    {
        try
        {
            File.Delete(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An unlocked file left behind is taken and deleted by the next server that looks.
        }

        Dispose();
    }

    public void Dispose() => _file.Dispose();
}
