namespace CrabLambda.Tests.Infrastructure;

/// <summary>
/// Reads a process's ids from <c>/proc</c>.
/// </summary>
public static class ProcessIds
{
    /// <summary>The process group and session of a running process.</summary>
    public static (int Group, int Session) GroupAndSession(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (int.Parse(fields[2]), int.Parse(fields[3]));
    }

    /// <summary>The session of a process, or null once it is gone.</summary>
    public static int? TrySession(int pid)
    {
        try
        {
            return GroupAndSession(pid).Session;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
