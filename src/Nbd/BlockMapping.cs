using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace IscsiUp.Nbd;

/// <summary>
/// The one place that maps NBD byte ranges onto a block-addressed <see cref="IBlockBackend"/>: checks that a
/// range lies inside the export, splits long requests into pieces within the backend's limits (several pieces
/// in flight), serves partial blocks at unaligned edges by read-modify-write (serialised per export), and
/// emulates FUA with a flush and write zeroes with writes of a fixed zero buffer when the backend lacks them.
/// Backends see only whole blocks inside their capacity. Never allocates in proportion to a request's length.
/// </summary>
internal static class BlockMapping
{
    /// <summary>Pieces of one data request issued concurrently.</summary>
    private const int DataWindow = 4;
    /// <summary>Pieces of one trim / write-zeroes request issued concurrently.</summary>
    private const int ZeroWindow = 16;

    /// <summary>Whether [offset, offset+length) lies inside the export; the server refuses a request that does
    /// not before it reaches any method here, so nothing below checks a range again.</summary>
    public static bool Covers(NbdExport export, ulong offset, ulong length)
    {
        ulong size = export.Size;
        return offset <= size && length <= size - offset;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public static async ValueTask ReadAsync(NbdExport export, long offset, Memory<byte> destination, CancellationToken ct)
    {
        var b = export.Backend;
        int bs = b.BlockSize;
        long end = offset + destination.Length;
        long alignedStart = RoundUp(offset, bs);
        long alignedEnd = RoundDown(end, bs);
        if (alignedStart > alignedEnd)
        {
            // Entirely inside one block.
            await ReadPartialAsync(b, alignedEnd, (int)(offset - alignedEnd), destination, ct).ConfigureAwait(false);
            return;
        }
        if (offset < alignedStart)
            await ReadPartialAsync(b, alignedStart - bs, (int)(offset - (alignedStart - bs)), destination[..(int)(alignedStart - offset)], ct).ConfigureAwait(false);
        if (alignedEnd > alignedStart)
        {
            var interior = destination.Slice((int)(alignedStart - offset), (int)(alignedEnd - alignedStart));
            await ReadBlocksAsync(b, alignedStart, interior, ct).ConfigureAwait(false);
        }
        if (end > alignedEnd)
            await ReadPartialAsync(b, alignedEnd, 0, destination[(int)(alignedEnd - offset)..], ct).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public static async ValueTask WriteAsync(NbdExport export, long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct)
    {
        var caps = export.Backend.Capabilities;
        bool nativeFua = fua && caps.HasFlag(BlockCapabilities.Fua);
        await WriteRangeAsync(export, offset, source.Length, source, nativeFua, ct).ConfigureAwait(false);
        if (fua && !nativeFua && caps.HasFlag(BlockCapabilities.Flush))
            await export.Backend.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Zeroes the range. Zeroing has no FUA of its own (WRITE SAME has none), so a FUA request is the
    /// zeroing followed by one flush.</summary>
    public static async ValueTask WriteZeroesAsync(NbdExport export, long offset, long length, bool mayUnmap, bool fua, CancellationToken ct)
    {
        await WriteRangeAsync(export, offset, length, null, false, ct, mayUnmap).ConfigureAwait(false);
        if (fua && export.Backend.Capabilities.HasFlag(BlockCapabilities.Flush))
            await export.Backend.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Discards the whole blocks inside the range (a trim is a hint: partial edge blocks are left alone).</summary>
    public static async ValueTask TrimAsync(NbdExport export, long offset, long length, bool fua, CancellationToken ct)
    {
        var b = export.Backend;
        int bs = b.BlockSize;
        long alignedStart = RoundUp(offset, bs);
        long alignedEnd = RoundDown(offset + length, bs);
        if (alignedEnd > alignedStart)
        {
            await ForEachPieceAsync(alignedStart, alignedEnd - alignedStart, PieceLength(b, b.MaxTrimBlocks), ZeroWindow,
                (pos, len) => b.TrimAsync(pos / bs, len / bs, ct)).ConfigureAwait(false);
        }
        if (fua && b.Capabilities.HasFlag(BlockCapabilities.Flush))
            await b.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Writes <paramref name="source"/>, or zeroes when it is null, over [offset, offset+length).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WriteRangeAsync(NbdExport export, long offset, long length, ReadOnlyMemory<byte>? source, bool fua, CancellationToken ct, bool mayUnmap = false)
    {
        var b = export.Backend;
        int bs = b.BlockSize;
        long end = offset + length;
        long alignedStart = RoundUp(offset, bs);
        long alignedEnd = RoundDown(end, bs);
        if (alignedStart > alignedEnd)
        {
            await WritePartialAsync(export, alignedEnd, (int)(offset - alignedEnd), source, (int)length, fua, ct).ConfigureAwait(false);
            return;
        }
        if (offset < alignedStart)
        {
            int headLen = (int)(alignedStart - offset);
            await WritePartialAsync(export, alignedStart - bs, bs - headLen, source?[..headLen], headLen, fua, ct).ConfigureAwait(false);
        }
        if (alignedEnd > alignedStart)
        {
            long interiorLen = alignedEnd - alignedStart;
            if (source is { } src)
                await WriteBlocksAsync(b, alignedStart, src.Slice((int)(alignedStart - offset), (int)interiorLen), fua, ct).ConfigureAwait(false);
            else
                await ZeroBlocksAsync(export, alignedStart, interiorLen, mayUnmap, ct).ConfigureAwait(false);
        }
        if (end > alignedEnd)
        {
            int tailLen = (int)(end - alignedEnd);
            await WritePartialAsync(export, alignedEnd, 0, source?[(int)(alignedEnd - offset)..], tailLen, fua, ct).ConfigureAwait(false);
        }
    }

    // Below, offsets and lengths are bytes on block boundaries; every backend call divides them by the block size.
    // The lambdas live in methods of their own: a closure allocates at the start of the method that declares
    // what it captures, and the common request (one piece) should allocate nothing.

    /// <summary>Reads whole blocks: one backend call when they fit in one transfer, else pieces in flight.</summary>
    private static ValueTask ReadBlocksAsync(IBlockBackend b, long offset, Memory<byte> destination, CancellationToken ct) =>
        destination.Length <= PieceLength(b) ? b.ReadAsync(offset / b.BlockSize, destination, ct) : ReadPiecesAsync(b, offset, destination, ct);

    private static ValueTask ReadPiecesAsync(IBlockBackend b, long offset, Memory<byte> destination, CancellationToken ct) =>
        ForEachPieceAsync(offset, destination.Length, PieceLength(b), DataWindow,
            (pos, len) => b.ReadAsync(pos / b.BlockSize, destination.Slice((int)(pos - offset), len), ct));

    /// <summary>Writes whole blocks: one backend call when they fit in one transfer, else pieces in flight.</summary>
    private static ValueTask WriteBlocksAsync(IBlockBackend b, long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct) =>
        source.Length <= PieceLength(b) ? b.WriteAsync(offset / b.BlockSize, source, fua, ct) : WritePiecesAsync(b, offset, source, fua, ct);

    private static ValueTask WritePiecesAsync(IBlockBackend b, long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct) =>
        ForEachPieceAsync(offset, source.Length, PieceLength(b), DataWindow,
            (pos, len) => b.WriteAsync(pos / b.BlockSize, source.Slice((int)(pos - offset), len), fua, ct));

    /// <summary>Zeroes whole blocks with the backend's write zeroes, or with writes of the export's zero buffer.</summary>
    private static ValueTask ZeroBlocksAsync(NbdExport export, long offset, long length, bool mayUnmap, CancellationToken ct)
    {
        var b = export.Backend;
        if (b.Capabilities.HasFlag(BlockCapabilities.WriteZeroes))
            return ForEachPieceAsync(offset, length, PieceLength(b, b.MaxZeroBlocks), ZeroWindow, (pos, len) => ZeroPieceAsync(export, pos, len, mayUnmap, ct));
        var zeroes = export.Zeroes;
        return ForEachPieceAsync(offset, length, zeroes.Length, ZeroWindow, (pos, len) => b.WriteAsync(pos / b.BlockSize, zeroes[..len], false, ct));
    }

    /// <summary>One piece of native zeroing; when the backend finds out it cannot zero after all (a target that
    /// refuses WRITE SAME), the piece is written from the zero buffer instead.</summary>
    private static async ValueTask ZeroPieceAsync(NbdExport export, long offset, int length, bool mayUnmap, CancellationToken ct)
    {
        var b = export.Backend;
        int bs = b.BlockSize;
        try
        {
            await b.WriteZeroesAsync(offset / bs, length / bs, mayUnmap, ct).ConfigureAwait(false);
            return;
        }
        catch (BlockBackendException e) when (e.Error == BlockError.NotSupported)
        {
        }
        var zeroes = export.Zeroes;
        for (int done = 0; done < length; done += zeroes.Length)
            await b.WriteAsync((offset + done) / bs, zeroes[..Math.Min(zeroes.Length, length - done)], false, ct).ConfigureAwait(false);
    }

    private static async ValueTask ReadPartialAsync(IBlockBackend b, long blockStart, int inBlock, Memory<byte> destination, CancellationToken ct)
    {
        int bs = b.BlockSize;
        byte[] block = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            await b.ReadAsync(blockStart / bs, block.AsMemory(0, bs), ct).ConfigureAwait(false);
            block.AsSpan(inBlock, destination.Length).CopyTo(destination.Span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>Read-modify-write of part of one block; serialised per export so two partial writes to the
    /// same block (each to its own bytes) cannot lose one another's update.</summary>
    private static async ValueTask WritePartialAsync(NbdExport export, long blockStart, int inBlock, ReadOnlyMemory<byte>? source, int length, bool fua, CancellationToken ct)
    {
        var b = export.Backend;
        int bs = b.BlockSize;
        byte[] block = ArrayPool<byte>.Shared.Rent(bs);
        await export.PartialBlockLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await b.ReadAsync(blockStart / bs, block.AsMemory(0, bs), ct).ConfigureAwait(false);
            if (source is { } src)
                src.Span[..length].CopyTo(block.AsSpan(inBlock, length));
            else
                block.AsSpan(inBlock, length).Clear();
            await b.WriteAsync(blockStart / bs, block.AsMemory(0, bs), fua, ct).ConfigureAwait(false);
        }
        finally
        {
            export.PartialBlockLock.Release();
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>Runs <paramref name="op"/> over consecutive pieces of at most <paramref name="pieceLength"/> bytes,
    /// with up to <paramref name="window"/> pieces in flight. On failure it stops issuing, waits for the pieces
    /// already in flight (their buffers must stay valid) and rethrows the first error.</summary>
    private static async ValueTask ForEachPieceAsync(long offset, long length, int pieceLength, int window, Func<long, int, ValueTask> op)
    {
        if (length <= pieceLength)
        {
            if (length > 0)
                await op(offset, (int)length).ConfigureAwait(false);
            return;
        }
        var pending = new List<Task>(window);
        Exception? error = null;
        long pos = offset, end = offset + length;
        while (pos < end && error is null)
        {
            if (pending.Count == window)
            {
                var done = await Task.WhenAny(pending).ConfigureAwait(false);
                pending.Remove(done);
                if (!done.IsCompletedSuccessfully)
                    error = done.Exception?.InnerException ?? new OperationCanceledException();
                continue;
            }
            int n = (int)Math.Min(pieceLength, end - pos);
            try
            {
                var vt = op(pos, n);
                if (!vt.IsCompletedSuccessfully)
                    pending.Add(vt.AsTask());
                else
                    vt.GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                error = e;
            }
            pos += n;
        }
        foreach (var t in pending)
        {
            try
            {
                await t.ConfigureAwait(false);
            }
            catch (Exception e)
            {
                error ??= e;
            }
        }
        if (error is not null)
            ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>Longest piece in bytes: whole blocks, at most the backend's transfer limit (and
    /// <paramref name="blockLimit"/> for trim and zeroes), at least one block.</summary>
    internal static int PieceLength(IBlockBackend b, long blockLimit = long.MaxValue)
    {
        int bs = b.BlockSize;
        long blocks = Math.Min(Math.Min(b.MaxTransferBlocks, blockLimit), int.MaxValue / bs);
        return (int)Math.Max(1, blocks) * bs;
    }

    private static long RoundUp(long value, int blockSize) => (value + blockSize - 1) / blockSize * blockSize;

    private static long RoundDown(long value, int blockSize) => value / blockSize * blockSize;
}
