using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace CrabLambda.Hosting;

/// <summary>
/// Reads a request body whole, up to a limit of its own, whatever limit the host's server has.
/// </summary>
internal static class RequestBody
{
    // Bodies that announce a length up to this are read straight into an array of that length; a longer announced
    // length is not trusted with an allocation before the bytes have arrived.
    private const int ExactAllocationLimit = 1024 * 1024;
    private const int FirstChunk = 16 * 1024;

    /// <summary>
    /// Reads the body. Returns <see langword="null"/> when it is larger than <paramref name="limit"/> bytes.
    /// </summary>
    public static async ValueTask<byte[]?> ReadAsync(
        HttpRequest request,
        long limit,
        CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return Refuse(request);
        }

        // The server's own limit may be lower (Kestrel's default is 30 MB) or higher than ours; ours applies. Kestrel
        // counts a chunked body's framing against its limit, so it gets none, and the reading below counts the body.
        var sizeFeature = request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false })
        {
            sizeFeature.MaxRequestBodySize = null;
        }

        try
        {
            if (request.ContentLength is { } length and <= ExactAllocationLimit)
            {
                return await ReadExactAsync(request.Body, (int)length, cancellationToken);
            }

            return await ReadGrowingAsync(request.Body, limit, cancellationToken) ?? Refuse(request);
        }
        catch (IOException exception) when (exception is not BadHttpRequestException
            && !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // Kestrel reports most bad framing as a bad request, but some (a chunk size past a long) as a plain
            // I/O error; either way the client sent a body that cannot be read, which is no failure of the server.
            throw new BadHttpRequestException(
                $"The request body could not be read: {exception.Message}",
                StatusCodes.Status400BadRequest,
                exception);
        }
    }

    // The rest of a refused body is not read: the connection closes after the answer rather than drain it.
    private static byte[]? Refuse(HttpRequest request)
    {
        request.HttpContext.Response.Headers.Connection = "close";
        return null;
    }

    private static async ValueTask<byte[]> ReadExactAsync(Stream body, int length, CancellationToken cancellationToken)
    {
        if (length == 0)
        {
            return [];
        }

        var buffer = new byte[length];
        await body.ReadExactlyAsync(buffer, cancellationToken);
        return buffer;
    }

    private static async ValueTask<byte[]?> ReadGrowingAsync(
        Stream body,
        long limit,
        CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(FirstChunk);
        var filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(buffer.Length * 2L, limit + 1));
                    buffer.AsSpan(0, filled).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await body.ReadAsync(buffer.AsMemory(filled), cancellationToken);
                if (read == 0)
                {
                    return buffer.AsSpan(0, filled).ToArray();
                }

                filled += read;
                if (filled > limit)
                {
                    return null;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
