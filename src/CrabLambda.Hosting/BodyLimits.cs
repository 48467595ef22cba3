namespace CrabLambda.Hosting;

/// <summary>
/// How large a request body may be, derived from <see cref="CrabLambdaOptions"/>.
/// </summary>
internal static class BodyLimits
{
    private const long Mebibyte = 1024 * 1024;

    // JSON escapes a character in at most 6 bytes (\u0001), so code of the largest accepted size always fits, with
    // room for the other fields. Code inside this bound but over the size limit is refused by the client, with a 413
    // that states the limit.
    private const int EscapedBytesPerCodeByte = 6;
    private const long OtherFieldsBytes = 64 * 1024;

    /// <summary>The largest invoke body: the event.</summary>
    public static long Event(CrabLambdaOptions options) => Bounded(options.MaxEventMb * Mebibyte);

    /// <summary>The largest create or update body.</summary>
    public static long Definition(CrabLambdaOptions options) =>
        Bounded((options.MaxFunctionSizeMb * Mebibyte * EscapedBytesPerCodeByte) + OtherFieldsBytes);

    private static long Bounded(long bytes) => Math.Min(bytes, Array.MaxLength - 1);
}
