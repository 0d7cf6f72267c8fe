namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// Byte-addressed storage behind a LUN. Offsets and lengths are multiples of 512 bytes.
/// Implementations are thread-safe: many callers may issue I/O concurrently.
/// </summary>
public interface IBlockStorage : IDisposable
{
    /// <summary>Usable size in bytes (a multiple of 512).</summary>
    long Capacity { get; }

    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct = default);

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken ct = default);

    /// <summary>Makes every completed write durable.</summary>
    ValueTask FlushAsync(CancellationToken ct = default);
}
