namespace IscsiUp.Nbd;

/// <summary>
/// The block device an NBD export serves: in production a logged-in iSCSI LUN, in tests anything. Addressed in
/// logical blocks: <see cref="BlockMapping"/> hands it only whole blocks inside <see cref="BlockCount"/> and
/// requests no longer than its limits, and emulates what <see cref="Capabilities"/> leaves out, so a backend
/// neither checks ranges nor splits. Thread-safe: the NBD server issues many calls concurrently and each must
/// be independent.
/// </summary>
public interface IBlockBackend
{
    /// <summary>Logical block size (512 or 4096); the smallest unit the backend addresses.</summary>
    int BlockSize { get; }
    long BlockCount { get; }
    /// <summary>Preferred I/O size in bytes (for example the optimal transfer length), at least BlockSize.</summary>
    int PreferredBlockSize { get; }
    /// <summary>Most blocks one read or write may carry.</summary>
    int MaxTransferBlocks { get; }
    /// <summary>Most blocks one trim may cover.</summary>
    long MaxTrimBlocks { get; }
    /// <summary>Most blocks one write zeroes may cover.</summary>
    long MaxZeroBlocks { get; }
    /// <summary>What the backend does natively; may lose a flag at run time (a target that refuses WRITE SAME).</summary>
    BlockCapabilities Capabilities { get; }

    /// <summary>Reads <c>destination.Length / BlockSize</c> blocks from <paramref name="lba"/>.</summary>
    ValueTask ReadAsync(long lba, Memory<byte> destination, CancellationToken ct);
    /// <summary>Writes <c>source.Length / BlockSize</c> blocks at <paramref name="lba"/>; <paramref name="fua"/> only
    /// when the backend has <see cref="BlockCapabilities.Fua"/>.</summary>
    ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct);
    ValueTask FlushAsync(CancellationToken ct);
    ValueTask TrimAsync(long lba, long blocks, CancellationToken ct);
    /// <summary>Writes zeroes; <paramref name="mayUnmap"/> allows deallocating instead (NBD without NO_HOLE). A
    /// backend that turns out not to zero natively throws <see cref="BlockError.NotSupported"/> and the caller
    /// writes zero buffers instead.</summary>
    ValueTask WriteZeroesAsync(long lba, long blocks, bool mayUnmap, CancellationToken ct);
}

/// <summary>What a block backend does natively.</summary>
[Flags]
public enum BlockCapabilities
{
    None = 0,
    ReadOnly = 1,
    /// <summary>Writes can be forced to stable storage one by one; else FUA is a write and then a flush.</summary>
    Fua = 2,
    Flush = 4,
    Trim = 8,
    /// <summary>Zeroes without data; else they are written from a zero buffer.</summary>
    WriteZeroes = 16,
    /// <summary>Several connections may safely share the device (a flush on one covers writes on all).</summary>
    MultiConnection = 32,
}

/// <summary>A backend failure with an errno-like meaning the NBD server can report (EIO, ENOSPC, EINVAL...).</summary>
public sealed class BlockBackendException(string message, BlockError error, Exception? inner = null) : IOException(message, inner)
{
    public BlockError Error { get; } = error;
}

/// <summary>Error classes a backend reports, mapped to NBD error numbers by the server.</summary>
public enum BlockError { Io, NoSpace, Invalid, ReadOnly, NotSupported }
