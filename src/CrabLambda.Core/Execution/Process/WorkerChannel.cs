using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using CrabLambda.Runtimes;

namespace CrabLambda.Execution.Process;

/// <summary>
/// The framed message connection to one worker: a 4-byte big-endian length, then that many bytes of JSON.
/// </summary>
internal sealed class WorkerChannel(Socket socket) : IDisposable
{
    private readonly byte[] _header = new byte[WorkerProtocol.LengthPrefixBytes];
    private readonly byte[] _first = new byte[1];

    /// <summary>Sends a frame that already carries its length prefix.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        while (!frame.IsEmpty)
        {
            var sent = await socket.SendAsync(frame, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            frame = frame[sent..];
        }
    }

    /// <summary>
    /// Receives the next message, or null when the worker closed the connection (it exited, say).
    /// </summary>
    /// <exception cref="WorkerFrameTooLargeException">The frame is over <paramref name="maxFrameBytes"/>.</exception>
    /// <exception cref="WorkerProtocolException">
    /// The frame is not a protocol message, or its length prefix is not one: bytes written to the socket without a
    /// prefix (by a function that found the worker's socket, say) read as an impossible length.
    /// </exception>
    public async Task<WorkerMessage?> ReceiveAsync(
        long maxFrameBytes,
        long maxOutputBytes,
        CancellationToken cancellationToken)
    {
        if (!await ReadExactlyAsync(_header, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(_header);
        if (length > maxFrameBytes)
        {
            // Every message is a JSON object: a large one starts like one, and what does not was never a length.
            if (await ReadExactlyAsync(_first, cancellationToken).ConfigureAwait(false) && StartsAnObject(_first[0]))
            {
                throw new WorkerFrameTooLargeException(length);
            }

            throw new WorkerProtocolException(
                $"It sent a malformed frame: its length prefix {Convert.ToHexString(_header)} announces {length} "
                + "bytes, and what follows is not a JSON message. Writing to the worker's protocol socket from the "
                + "function does this.");
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            var payload = buffer.AsMemory(0, (int)length);
            if (!await ReadExactlyAsync(payload, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return WorkerMessages.Parse(payload, maxOutputBytes);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose() => socket.Dispose();

    private static bool StartsAnObject(byte first) => first is (byte)'{' or (byte)' ' or (byte)'\t' or (byte)'\r'
        or (byte)'\n';

    private async ValueTask<bool> ReadExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            var read = await socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken)
                .ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            destination = destination[read..];
        }

        return true;
    }
}
