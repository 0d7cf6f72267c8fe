using System.Buffers;
using System.Runtime.CompilerServices;
using IscsiUp.Initiator.Nbd;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Scsi;

/// <summary>
/// Serves a <see cref="ScsiDisk"/> as an NBD backend: READ -> READ(16), WRITE -> WRITE(16) (FUA bit),
/// FLUSH -> SYNCHRONIZE CACHE(16), TRIM -> UNMAP, WRITE_ZEROES -> WRITE SAME(16). Requests are split to the
/// target's Block Limits; byte ranges must be whole blocks (the NBD server advertises the block size).
/// </summary>
public sealed class ScsiBlockBackend(ScsiDisk disk) : IBlockBackend
{
    /// <summary>Used when the target reports no maximum transfer length.</summary>
    public const int DefaultMaxTransfer = 4 * 1024 * 1024;
    private const int ZeroChunk = 1024 * 1024;

    public ScsiDisk Disk => disk;
    public long Capacity => disk.CapacityBytes;
    public int BlockSize => disk.BlockSize;

    public int PreferredBlockSize =>
        disk.Limits.OptimalTransferBlocks is > 0 and <= 8192 ? (int)disk.Limits.OptimalTransferBlocks * BlockSize : Math.Max(BlockSize, 4096);

    public int MaxTransferLength
    {
        get
        {
            long limit = disk.Limits.MaxTransferBlocks > 0 ? (long)disk.Limits.MaxTransferBlocks * BlockSize : DefaultMaxTransfer;
            return (int)Math.Clamp(limit, BlockSize, 32L * 1024 * 1024);
        }
    }

    public bool IsReadOnly => false;
    public bool SupportsFua => disk.SupportsFua;
    public bool SupportsFlush => true;
    public bool SupportsTrim => disk.Limits.UnmapSupported;
    public bool SupportsWriteZeroes => true;
    /// <summary>One session, one ordered command stream: a flush on any NBD connection covers every write.</summary>
    public bool SupportsMultiConnection => true;

    private ulong Lba(long offset, long length)
    {
        if (offset % BlockSize != 0 || length % BlockSize != 0)
            throw new BlockBackendException($"request at {offset} length {length} is not aligned to {BlockSize}-byte blocks", BlockError.Invalid);
        if (offset < 0 || length < 0 || offset + length > Capacity)
            throw new BlockBackendException($"request at {offset} length {length} is beyond the {Capacity}-byte LUN", BlockError.Invalid);
        return (ulong)(offset / BlockSize);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct)
    {
        ulong lba = Lba(offset, destination.Length);
        int max = MaxTransferLength / BlockSize * BlockSize;
        for (int done = 0; done < destination.Length; done += max)
        {
            int chunk = Math.Min(max, destination.Length - done);
            await Translate(disk.ReadAsync(lba + (ulong)(done / BlockSize), destination.Slice(done, chunk), ct)).ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct)
    {
        ulong lba = Lba(offset, source.Length);
        int max = MaxTransferLength / BlockSize * BlockSize;
        for (int done = 0; done < source.Length; done += max)
        {
            int chunk = Math.Min(max, source.Length - done);
            await Translate(disk.WriteAsync(lba + (ulong)(done / BlockSize), source.Slice(done, chunk), fua, ct)).ConfigureAwait(false);
        }
    }

    public ValueTask FlushAsync(CancellationToken ct) => Translate(disk.SynchronizeCacheAsync(ct));

    public async ValueTask TrimAsync(long offset, long length, CancellationToken ct)
    {
        if (!SupportsTrim) throw new BlockBackendException("the LUN does not support UNMAP", BlockError.NotSupported);
        ulong lba = Lba(offset, length);
        ulong blocks = (ulong)(length / BlockSize);
        ulong max = disk.Limits.MaxUnmapBlocks is > 0 and not uint.MaxValue ? disk.Limits.MaxUnmapBlocks : 1u << 22;
        for (ulong done = 0; done < blocks; done += max)
            await Translate(disk.UnmapAsync(lba + done, (uint)Math.Min(max, blocks - done), ct)).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool mayUnmap, bool fua, CancellationToken ct)
    {
        ulong lba = Lba(offset, length);
        ulong blocks = (ulong)(length / BlockSize);
        ulong max = disk.Limits.MaxWriteSameBlocks is > 0 and <= uint.MaxValue ? disk.Limits.MaxWriteSameBlocks : (ulong)(ZeroChunk / BlockSize) * 64;
        try
        {
            for (ulong done = 0; done < blocks; done += max)
                await disk.WriteSameZeroesAsync(lba + done, (uint)Math.Min(max, blocks - done), mayUnmap && disk.Limits.WriteSameUnmapSupported, ct).ConfigureAwait(false);
        }
        catch (ScsiException e) when (e.Sense is { SenseKey: SenseData.IllegalRequest, Asc: 0x20 or 0x24 })
        {
            // No WRITE SAME: write zeroes from one pooled buffer, never a buffer the size of the request.
            byte[] zeroes = ArrayPool<byte>.Shared.Rent(ZeroChunk);
            try
            {
                Array.Clear(zeroes, 0, ZeroChunk);
                for (long done = 0; done < length; done += ZeroChunk)
                {
                    int chunk = (int)Math.Min(ZeroChunk, length - done);
                    await Translate(disk.WriteAsync(lba + (ulong)(done / BlockSize), zeroes.AsMemory(0, chunk), fua, ct)).ConfigureAwait(false);
                }
            }
            finally { ArrayPool<byte>.Shared.Return(zeroes); }
            return;
        }
        catch (ScsiException e) { throw ToBackend(e); }
        if (fua) await FlushAsync(ct).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask Translate(ValueTask operation)
    {
        try { await operation.ConfigureAwait(false); }
        catch (ScsiException e) { throw ToBackend(e); }
    }

    private static BlockBackendException ToBackend(ScsiException e) => new(e.Message, e.Sense switch
    {
        { SenseKey: SenseData.IllegalRequest, Asc: 0x21 } => BlockError.NoSpace,
        { SenseKey: SenseData.IllegalRequest } => BlockError.Invalid,
        { SenseKey: SenseData.DataProtect } => BlockError.ReadOnly,
        _ => BlockError.Io,
    }, e);
}
