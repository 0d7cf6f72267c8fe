namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// A member disk held in memory. Sparse: storage is allocated in 1 MiB pieces on the first
/// non-zero write, so a large, mostly empty disk costs almost nothing.
/// </summary>
public sealed class MemoryDisk : IMemberDisk
{
    internal const int PieceSize = 1024 * 1024;

    private byte[]?[] _pieces;
    private volatile bool _disposed;

    public MemoryDisk(long size)
    {
        MemberDiskGuard.CheckSize(size);
        Size = size;
        _pieces = new byte[]?[checked((int)((size + PieceSize - 1) / PieceSize))];
    }

    public long Size { get; }

    /// <summary>Bytes of memory currently allocated for data.</summary>
    public long AllocatedBytes
    {
        get
        {
            long total = 0;
            foreach (byte[]? piece in _pieces)
            {
                total += piece?.Length ?? 0;
            }

            return total;
        }
    }

    public void Read(long offset, Span<byte> dst)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        MemberDiskGuard.CheckRange(offset, dst.Length, Size);
        byte[]?[] pieces = _pieces;
        while (!dst.IsEmpty)
        {
            int index = (int)(offset / PieceSize);
            int within = (int)(offset % PieceSize);
            int count = Math.Min(dst.Length, PieceSize - within);
            byte[]? piece = Volatile.Read(ref pieces[index]);
            if (piece is null)
            {
                dst[..count].Clear();
            }
            else
            {
                piece.AsSpan(within, count).CopyTo(dst);
            }

            dst = dst[count..];
            offset += count;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> src)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        MemberDiskGuard.CheckRange(offset, src.Length, Size);
        byte[]?[] pieces = _pieces;
        while (!src.IsEmpty)
        {
            int index = (int)(offset / PieceSize);
            int within = (int)(offset % PieceSize);
            int count = Math.Min(src.Length, PieceSize - within);
            ReadOnlySpan<byte> part = src[..count];
            byte[]? piece = Volatile.Read(ref pieces[index]);
            if (piece is null && part.ContainsAnyExcept((byte)0))
            {
                // Zeros into an unallocated piece change nothing: keep it sparse.
                var fresh = new byte[(int)Math.Min(PieceSize, Size - ((long)index * PieceSize))];
                piece = Interlocked.CompareExchange(ref pieces[index], fresh, null) ?? fresh;
            }

            if (piece is not null)
            {
                part.CopyTo(piece.AsSpan(within));
            }

            src = src[count..];
            offset += count;
        }
    }

    public void Flush() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        _disposed = true;
        _pieces = [];
    }
}
