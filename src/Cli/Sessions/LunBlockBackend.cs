using System.Runtime.CompilerServices;
using IscsiUp.Iscsi.Scsi;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Nbd;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Serves a <see cref="ScsiDisk"/> as the NBD server's block backend: each block request becomes one SCSI
/// command, read -> READ(16), write -> WRITE(16) (FUA bit), flush -> SYNCHRONIZE CACHE(16), trim -> UNMAP,
/// write zeroes -> WRITE SAME(16). Lives here, where the initiator and the NBD server meet, so neither knows the
/// other. Ranges, splitting and emulation are the NBD server's block mapping: this only reports the LUN's
/// limits (Block Limits VPD page) and capabilities and translates SCSI failures into block errors.
/// </summary>
public sealed class LunBlockBackend(ScsiDisk disk) : IBlockBackend
{
    /// <summary>Used when the target reports no maximum transfer length.</summary>
    public const int DefaultMaxTransfer = 4 * 1024 * 1024;
    /// <summary>The largest transfer used even when the target allows more (the NBD protocol's own maximum).</summary>
    private const int MaxTransferCap = 32 * 1024 * 1024;
    /// <summary>UNMAP extent when the target reports no limit.</summary>
    private const long DefaultMaxUnmapBlocks = 1L << 22;
    /// <summary>WRITE SAME extent when the target reports no limit.</summary>
    private const long DefaultMaxWriteSameBytes = 64L * 1024 * 1024;

    /// <summary>Set once the target refused WRITE SAME: zeroes are written as data from then on.</summary>
    private volatile bool _writeSameRefused;

    /// <summary>Set once the target removed the LUN: every request fails with an I/O error without reaching the target.</summary>
    private volatile bool _retired;

    /// <summary>The target no longer offers the LUN: from now on its requests fail cleanly (EIO).</summary>
    public void Retire() => _retired = true;

    public ScsiDisk Disk => disk;
    public int BlockSize => disk.BlockSize;
    public long BlockCount => checked((long)disk.Capacity.BlockCount);

    public int PreferredBlockSize =>
        disk.Limits.OptimalTransferBlocks is > 0 and <= 8192 ? (int)disk.Limits.OptimalTransferBlocks * BlockSize : Math.Max(BlockSize, 4096);

    public int MaxTransferBlocks
    {
        get
        {
            long limit = disk.Limits.MaxTransferBlocks > 0 ? (long)disk.Limits.MaxTransferBlocks * BlockSize : DefaultMaxTransfer;
            return (int)(Math.Clamp(limit, BlockSize, MaxTransferCap) / BlockSize);
        }
    }

    public long MaxTrimBlocks => disk.Limits.MaxUnmapBlocks is > 0 and not uint.MaxValue ? disk.Limits.MaxUnmapBlocks : DefaultMaxUnmapBlocks;

    public long MaxZeroBlocks => disk.Limits.MaxWriteSameBlocks is > 0 and <= uint.MaxValue ? (long)disk.Limits.MaxWriteSameBlocks : DefaultMaxWriteSameBytes / BlockSize;

    /// <summary>One session, one ordered command stream: a flush on any NBD connection covers every write.</summary>
    public BlockCapabilities Capabilities =>
        BlockCapabilities.Flush | BlockCapabilities.MultiConnection |
        (disk.SupportsFua ? BlockCapabilities.Fua : 0) |
        (disk.Limits.UnmapSupported ? BlockCapabilities.Trim : 0) |
        (_writeSameRefused ? 0 : BlockCapabilities.WriteZeroes);

    public ValueTask ReadAsync(long lba, Memory<byte> destination, CancellationToken ct) =>
        _retired ? Gone() : Translate(disk.ReadAsync((ulong)lba, destination, ct));

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct) =>
        _retired ? Gone() : Translate(disk.WriteAsync((ulong)lba, source, fua, ct));

    public ValueTask FlushAsync(CancellationToken ct) => _retired ? Gone() : Translate(disk.SynchronizeCacheAsync(ct));

    public ValueTask TrimAsync(long lba, long blocks, CancellationToken ct) => _retired ? Gone() : Translate(disk.UnmapAsync((ulong)lba, (uint)blocks, ct));

    public async ValueTask WriteZeroesAsync(long lba, long blocks, bool mayUnmap, CancellationToken ct)
    {
        if (_retired) await Gone().ConfigureAwait(false);
        try
        {
            await disk.WriteSameZeroesAsync((ulong)lba, (uint)blocks, mayUnmap && disk.Limits.WriteSameUnmapSupported, ct).ConfigureAwait(false);
        }
        catch (ScsiException e) when (e.Sense is { SenseKey: SenseData.IllegalRequest, Asc: 0x20 or 0x24 })
        {
            // No WRITE SAME (invalid opcode or field): the block mapping writes zero buffers instead.
            _writeSameRefused = true;
            throw new BlockBackendException(e.Message, BlockError.NotSupported, e);
        }
        catch (ScsiException e) { throw ToBackend(e); }
    }

    private ValueTask Gone() => ValueTask.FromException(new BlockBackendException(
        $"LUN {disk.Lun} of {disk.Session.TargetName} was removed by the target", BlockError.Io));

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask Translate(ValueTask operation)
    {
        try { await operation.ConfigureAwait(false); }
        catch (ScsiException e) { throw ToBackend(e); }
    }

    private static BlockBackendException ToBackend(ScsiException e) => new(e.Message, e.Sense switch
    {
        // LOGICAL UNIT NOT SUPPORTED: removed by the target before we noticed; an I/O error, not a bad request.
        { SenseKey: SenseData.IllegalRequest, Asc: 0x25 } => BlockError.Io,
        { SenseKey: SenseData.IllegalRequest, Asc: 0x21 } => BlockError.NoSpace,
        { SenseKey: SenseData.IllegalRequest } => BlockError.Invalid,
        { SenseKey: SenseData.DataProtect } => BlockError.ReadOnly,
        _ => BlockError.Io,
    }, e);
}
