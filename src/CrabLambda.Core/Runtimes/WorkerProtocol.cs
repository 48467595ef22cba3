namespace CrabLambda.Runtimes;

/// <summary>
/// Constants of the worker protocol that every runtime's worker program speaks. The protocol itself is described in
/// <c>docs/worker-protocol.md</c>: length-prefixed JSON frames over the Unix socket named by
/// <see cref="SocketVariable"/>, the function's stdout and stderr as log lines, and a per-invocation marker that ends
/// each invocation's output on both streams.
/// </summary>
public static class WorkerProtocol
{
    /// <summary>The environment variable that names the Unix socket the worker connects to.</summary>
    public const string SocketVariable = "CRABLAMBDA_SOCKET";

    /// <summary>The size of a frame's length prefix, in bytes (unsigned, big-endian).</summary>
    public const int LengthPrefixBytes = 4;
}
