namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// One member disk of an array: synchronous, positional and thread-safe
/// (concurrent calls on disjoint ranges never interfere).
/// </summary>
public interface IMemberDisk : IDisposable
{
    /// <summary>Size in bytes.</summary>
    long Size { get; }

    /// <summary>Fills <paramref name="dst"/> from <paramref name="offset"/>; never-written bytes read as zero.</summary>
    void Read(long offset, Span<byte> dst);

    void Write(long offset, ReadOnlySpan<byte> src);

    void Flush();
}
