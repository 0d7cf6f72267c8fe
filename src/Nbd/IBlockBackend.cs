namespace IscsiUp.Nbd;

/// <summary>
/// The block device an NBD export serves: in production a logged-in iSCSI LUN, in tests anything.
/// Offsets and lengths are in bytes; callers keep them within <see cref="Capacity"/>. Thread-safe: the NBD
/// server issues many calls concurrently and each must be independent.
/// </summary>
public interface IBlockBackend
{
    long Capacity { get; }
    /// <summary>Logical block size (512 or 4096); the smallest unit the backend addresses.</summary>
    int BlockSize { get; }
    /// <summary>Preferred I/O size (for example the optimal transfer length), at least BlockSize.</summary>
    int PreferredBlockSize { get; }
    /// <summary>Largest single request the backend accepts without splitting (the server splits larger ones).</summary>
    int MaxTransferLength { get; }
    bool IsReadOnly { get; }
    bool SupportsFua { get; }
    bool SupportsFlush { get; }
    bool SupportsTrim { get; }
    bool SupportsWriteZeroes { get; }
    /// <summary>True when several connections may safely share the device (a flush on one covers writes on all).</summary>
    bool SupportsMultiConnection { get; }

    ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct);
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct);
    ValueTask FlushAsync(CancellationToken ct);
    ValueTask TrimAsync(long offset, long length, CancellationToken ct);
    /// <summary>Writes zeroes; <paramref name="mayUnmap"/> allows deallocating instead (NBD without NO_HOLE).</summary>
    ValueTask WriteZeroesAsync(long offset, long length, bool mayUnmap, bool fua, CancellationToken ct);
}

/// <summary>A backend failure with an errno-like meaning the NBD server can report (EIO, ENOSPC, EINVAL...).</summary>
public sealed class BlockBackendException(string message, BlockError error, Exception? inner = null) : IOException(message, inner)
{
    public BlockError Error { get; } = error;
}

/// <summary>Error classes a backend reports, mapped to NBD error numbers by the server.</summary>
public enum BlockError { Io, NoSpace, Invalid, ReadOnly, NotSupported }
