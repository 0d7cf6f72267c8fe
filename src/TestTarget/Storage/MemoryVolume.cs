namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// A plain (non-RAID) volume in memory that can grow. Sparse like <see cref="MemoryDisk"/>: 1 MiB pieces are
/// allocated on the first non-zero write. Growing replaces the table of pieces, never the pieces themselves,
/// so concurrent I/O keeps working on the same bytes.
/// </summary>
public sealed class MemoryVolume : IResizableStorage
{
    private const int PieceSize = 1024 * 1024;

    private readonly Lock _lock = new(); // taken to allocate a piece or grow, never for plain I/O
    private byte[]?[] _pieces;
    private long _capacity;

    public MemoryVolume(long capacity)
    {
        VolumeGuard.CheckCapacity(capacity);
        _capacity = capacity;
        _pieces = new byte[]?[PieceCount(capacity)];
    }

    public long Capacity => Volatile.Read(ref _capacity);

    public void Grow(long capacity)
    {
        lock (_lock)
        {
            VolumeGuard.CheckGrowth(_capacity, capacity);
            var pieces = new byte[]?[PieceCount(capacity)];
            Array.Copy(_pieces, pieces, _pieces.Length);
            Volatile.Write(ref _pieces, pieces);
            Volatile.Write(ref _capacity, capacity);
        }
    }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct = default)
    {
        VolumeGuard.CheckRange(offset, destination.Length, Capacity);
        byte[]?[] pieces = Volatile.Read(ref _pieces);
        Span<byte> dst = destination.Span;
        while (!dst.IsEmpty)
        {
            int within = (int)(offset % PieceSize);
            int count = Math.Min(dst.Length, PieceSize - within);
            byte[]? piece = Volatile.Read(ref pieces[offset / PieceSize]);
            if (piece is null) dst[..count].Clear();
            else piece.AsSpan(within, count).CopyTo(dst);
            dst = dst[count..];
            offset += count;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken ct = default)
    {
        VolumeGuard.CheckRange(offset, source.Length, Capacity);
        ReadOnlySpan<byte> src = source.Span;
        while (!src.IsEmpty)
        {
            int within = (int)(offset % PieceSize);
            int count = Math.Min(src.Length, PieceSize - within);
            ReadOnlySpan<byte> part = src[..count];
            long index = offset / PieceSize;
            byte[]? piece = Volatile.Read(ref Volatile.Read(ref _pieces)[index]);
            if (piece is null && part.ContainsAnyExcept((byte)0)) piece = Allocate(index);
            if (piece is not null) part.CopyTo(piece.AsSpan(within)); // zeroes into a missing piece change nothing
            src = src[count..];
            offset += count;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct = default) => ValueTask.CompletedTask;

    public void Dispose() { }

    /// <summary>Under the lock, so a piece is never allocated into a table that growth is replacing.</summary>
    private byte[] Allocate(long index)
    {
        lock (_lock) return _pieces[index] ??= new byte[PieceSize];
    }

    private static int PieceCount(long capacity) => checked((int)((capacity + PieceSize - 1) / PieceSize));
}
