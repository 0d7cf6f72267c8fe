using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Scsi;

/// <summary>
/// A direct-access LUN reached through an iSCSI session, spoken to in blocks (SBC-3). Commands that end in
/// UNIT ATTENTION, BUSY, TASK SET FULL or "becoming ready" are retried; other errors become
/// <see cref="ScsiException"/> with readable sense.
/// </summary>
public sealed class ScsiDisk
{
    private const int MaxRetries = 8;
    private readonly IScsiSession _session;

    private ScsiDisk(IScsiSession session, int lun)
    {
        _session = session;
        Lun = lun;
        LunField = LunAddress.Encode(lun);
    }

    public IScsiSession Session => _session;
    public int Lun { get; }
    public ulong LunField { get; }
    public InquiryData Inquiry { get; private set; } = null!;
    public ReadCapacity Capacity { get; private set; } = null!;
    public BlockLimits Limits { get; private set; } = BlockLimits.None;
    public string? SerialNumber { get; private set; }
    /// <summary>The LUN's world-wide name (VPD 0x83) when it has one: the udev by-id names come from it.</summary>
    public LunIdentifier? Identifier { get; private set; }
    /// <summary>True when the caching mode page or standard data says the device honours FUA (DPOFUA).</summary>
    public bool SupportsFua { get; private set; }

    /// <summary>
    /// Told of every unit attention a command to this LUN meets (the command itself is still retried), so the
    /// owner can react to REPORTED LUNS DATA HAS CHANGED or CAPACITY DATA HAS CHANGED. May run on the session's
    /// receive loop: it must only take note, never wait.
    /// </summary>
    public Action<SenseData>? UnitAttention { get; set; }

    /// <summary>REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh): LUNs were added or removed.</summary>
    public static bool IsLunInventoryChange(SenseData sense) => sense is { SenseKey: SenseData.UnitAttention, Asc: 0x3F, Ascq: 0x0E };

    /// <summary>CAPACITY DATA HAS CHANGED (2Ah/09h): the LUN was resized.</summary>
    public static bool IsCapacityChange(SenseData sense) => sense is { SenseKey: SenseData.UnitAttention, Asc: 0x2A, Ascq: 0x09 };

    /// <summary>Opens a LUN: clears pending unit attentions, reads INQUIRY, capacity and the limits VPD pages.</summary>
    public static async Task<ScsiDisk> OpenAsync(IScsiSession session, int lun, CancellationToken ct = default)
    {
        var disk = new ScsiDisk(session, lun);
        await disk.TestUnitReadyAsync(ct).ConfigureAwait(false);
        var inquiry = new byte[96];
        int n = await disk.InquiryAsync(null, inquiry, ct).ConfigureAwait(false);
        disk.Inquiry = InquiryData.Parse(inquiry.AsSpan(0, Math.Max(n, 36)));
        if (disk.Inquiry.PeripheralQualifier != 0)
            throw new IOException($"LUN {lun} of target {session.TargetName} is not connected (peripheral qualifier {disk.Inquiry.PeripheralQualifier})");
        if (disk.Inquiry.DeviceType != InquiryData.DirectAccessBlockDevice)
            throw new IOException($"LUN {lun} of target {session.TargetName} is a {disk.Inquiry.DeviceTypeName}, not a disk");
        disk.Capacity = await disk.ReadCapacityAsync(ct).ConfigureAwait(false);
        var pages = await disk.SupportedVpdPagesAsync(ct).ConfigureAwait(false);
        byte[] b0 = pages.Contains((byte)0xB0) ? await disk.VpdPageAsync(0xB0, ct).ConfigureAwait(false) : [];
        byte[] b2 = pages.Contains((byte)0xB2) ? await disk.VpdPageAsync(0xB2, ct).ConfigureAwait(false) : [];
        disk.Limits = BlockLimits.Parse(b0, b2);
        if (pages.Contains((byte)0x80))
        {
            var serial = await disk.VpdPageAsync(0x80, ct).ConfigureAwait(false);
            if (serial.Length > 4) disk.SerialNumber = InquiryData.Ascii(serial.AsSpan(4, Math.Min(serial.Length - 4, serial[3]))).Trim();
        }
        if (pages.Contains(LunIdentifier.VpdPage))
            disk.Identifier = LunIdentifier.Parse(await disk.VpdPageAsync(LunIdentifier.VpdPage, ct).ConfigureAwait(false));
        disk.SupportsFua = await disk.ReadDpoFuaAsync(ct).ConfigureAwait(false);
        return disk;
    }

    /// <summary>Standard INQUIRY of any LUN, to tell disks from controllers before opening one.</summary>
    public static async Task<InquiryData> ProbeAsync(IScsiSession session, int lun, CancellationToken ct = default)
    {
        var disk = new ScsiDisk(session, lun);
        await disk.TestUnitReadyAsync(ct).ConfigureAwait(false);
        var inquiry = new byte[96];
        int n = await disk.InquiryAsync(null, inquiry, ct).ConfigureAwait(false);
        return InquiryData.Parse(inquiry.AsSpan(0, Math.Max(n, 36)));
    }

    public long CapacityBytes => Capacity.Bytes;
    public int BlockSize => (int)Capacity.BlockSize;

    /// <summary>Runs a command, retrying transient conditions, and throws on failure. Returns bytes transferred.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ExecuteAsync(string operation, ScsiCommand command, CancellationToken ct = default)
    {
        for (int attempt = 0; ; attempt++)
        {
            var result = await _session.ExecuteAsync(command, ct).ConfigureAwait(false);
            if (result.IsGood) return result.Transferred(command.ExpectedLength);
            if (attempt < MaxRetries && IsTransient(result))
            {
                if (UnitAttention is { } notify && result.Sense is { } sense && SenseData.Parse(sense) is { SenseKey: SenseData.UnitAttention } attention)
                    notify(attention);
                if (result.Status != ScsiResult.CheckCondition)
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 10 << attempt)), ct).ConfigureAwait(false);
                continue;
            }
            throw ScsiException.From($"{operation} on LUN {Lun} of {_session.TargetName}", result);
        }
    }

    private static bool IsTransient(ScsiResult result)
    {
        if (result.Status is ScsiResult.Busy or ScsiResult.TaskSetFull) return true;
        if (result.Status != ScsiResult.CheckCondition || result.Sense is null) return false;
        var sense = SenseData.Parse(result.Sense);
        return sense is { SenseKey: SenseData.UnitAttention }
            || sense is { SenseKey: SenseData.NotReady, Asc: 0x04, Ascq: 0x01 };
    }

    public async Task TestUnitReadyAsync(CancellationToken ct = default)
    {
        var cdb = new byte[6];
        Cdb.TestUnitReady(cdb);
        await ExecuteAsync("TEST UNIT READY", new ScsiCommand(LunField, cdb), ct).ConfigureAwait(false);
    }

    public async Task<int> InquiryAsync(byte? vpdPage, Memory<byte> buffer, CancellationToken ct = default)
    {
        var cdb = new byte[6];
        Cdb.Inquiry(cdb, vpdPage, (ushort)Math.Min(buffer.Length, ushort.MaxValue));
        return await ExecuteAsync(vpdPage is null ? "INQUIRY" : $"INQUIRY VPD 0x{vpdPage:x2}", new ScsiCommand(LunField, cdb, buffer), ct).ConfigureAwait(false);
    }

    /// <summary>Reads a whole VPD page (header included).</summary>
    public async Task<byte[]> VpdPageAsync(byte page, CancellationToken ct = default)
    {
        var buffer = new byte[255];
        int n = await InquiryAsync(page, buffer, ct).ConfigureAwait(false);
        if (n >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(2)) + 4;
            if (length > buffer.Length)
            {
                buffer = new byte[Math.Min(length, ushort.MaxValue)];
                n = await InquiryAsync(page, buffer, ct).ConfigureAwait(false);
            }
            n = Math.Min(n, length);
        }
        if (n >= 2 && buffer[1] != page) throw new IOException($"INQUIRY for VPD page 0x{page:x2} returned page 0x{buffer[1]:x2}");
        return buffer.AsSpan(0, n).ToArray();
    }

    public async Task<byte[]> SupportedVpdPagesAsync(CancellationToken ct = default)
    {
        try
        {
            var page = await VpdPageAsync(0x00, ct).ConfigureAwait(false);
            return page.Length > 4 ? page[4..] : [];
        }
        catch (ScsiException e) when (e.Sense?.SenseKey == SenseData.IllegalRequest)
        {
            return []; // no VPD support: fine for old devices
        }
    }

    public async Task<ReadCapacity> ReadCapacityAsync(CancellationToken ct = default)
    {
        var cdb = new byte[16];
        var data = new byte[32];
        try
        {
            Cdb.ReadCapacity16(cdb, 32);
            await ExecuteAsync("READ CAPACITY(16)", new ScsiCommand(LunField, cdb, data), ct).ConfigureAwait(false);
            return ReadCapacity.Parse16(data, $"LUN {Lun} of target {_session.TargetName}");
        }
        catch (ScsiException e) when (e.Sense?.SenseKey == SenseData.IllegalRequest)
        {
            Cdb.ReadCapacity10(cdb);
            await ExecuteAsync("READ CAPACITY(10)", new ScsiCommand(LunField, cdb.AsMemory(0, 10), data.AsMemory(0, 8)), ct).ConfigureAwait(false);
            return ReadCapacity.Parse10(data, $"LUN {Lun} of target {_session.TargetName}");
        }
    }

    /// <summary>
    /// Reads the capacity again (after CAPACITY DATA HAS CHANGED, or on a rescan) and keeps it. Returns true when
    /// it changed; a different block size is refused, since everything above counts in blocks.
    /// </summary>
    public async Task<bool> RefreshCapacityAsync(CancellationToken ct = default)
    {
        var now = await ReadCapacityAsync(ct).ConfigureAwait(false);
        if (now.BlockSize != Capacity.BlockSize)
            throw new IOException($"LUN {Lun} of target {_session.TargetName} changed its block size from {Capacity.BlockSize} to {now.BlockSize} bytes");
        if (now.BlockCount == Capacity.BlockCount) return false;
        Capacity = now;
        return true;
    }

    /// <summary>DPOFUA from the MODE SENSE(6) header's device-specific parameter (SBC-3 6.4.1).</summary>
    private async Task<bool> ReadDpoFuaAsync(CancellationToken ct)
    {
        var cdb = new byte[6] { ScsiOpcode.ModeSense6, 0x08 /* DBD */, 0x3F, 0, 0xFF, 0 };
        var data = new byte[255];
        try
        {
            int n = await ExecuteAsync("MODE SENSE(6)", new ScsiCommand(LunField, cdb, data), ct).ConfigureAwait(false);
            return n >= 4 && (data[2] & 0x10) != 0;
        }
        catch (ScsiException)
        {
            return false;
        }
    }

    private void CheckRange(ulong lba, long blocks)
    {
        if (blocks < 0 || lba + (ulong)blocks > Capacity.BlockCount)
            throw new ArgumentOutOfRangeException(nameof(lba), $"blocks {lba}..{lba + (ulong)blocks} are beyond the end of the {Capacity.BlockCount}-block LUN");
    }

    /// <summary>READ(16) of the blocks covering <paramref name="buffer"/> (its length is a multiple of the block size).
    /// The hot path: the caller resumes on the session's receive loop and must not block after the await
    /// (<see cref="ScsiCommand.ContinueOnReceiveLoop"/>).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(ulong lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        uint blocks = (uint)(buffer.Length / BlockSize);
        CheckRange(lba, blocks);
        byte[] cdb = ArrayPool<byte>.Shared.Rent(16);
        try
        {
            Cdb.Read16(cdb, lba, blocks);
            var command = new ScsiCommand(LunField, cdb.AsMemory(0, 16), buffer) { ContinueOnReceiveLoop = true };
            int n = await ExecuteAsync("READ(16)", command, ct).ConfigureAwait(false);
            if (n != buffer.Length) throw new IOException($"READ(16) at block {lba} returned {n} of {buffer.Length} bytes");
        }
        finally { ArrayPool<byte>.Shared.Return(cdb); }
    }

    /// <summary>WRITE(16), with FUA when asked (the target then writes through its cache). The hot path, like
    /// <see cref="ReadAsync"/>: the caller resumes on the session's receive loop and must not block.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(ulong lba, ReadOnlyMemory<byte> data, bool fua = false, CancellationToken ct = default)
    {
        uint blocks = (uint)(data.Length / BlockSize);
        CheckRange(lba, blocks);
        byte[] cdb = ArrayPool<byte>.Shared.Rent(16);
        try
        {
            Cdb.Write16(cdb, lba, blocks, fua);
            var command = new ScsiCommand(LunField, cdb.AsMemory(0, 16), writeBuffer: data) { ContinueOnReceiveLoop = true };
            await ExecuteAsync("WRITE(16)", command, ct).ConfigureAwait(false);
        }
        finally { ArrayPool<byte>.Shared.Return(cdb); }
    }

    /// <summary>SYNCHRONIZE CACHE(16) of the whole LUN, falling back to (10) for targets without it.</summary>
    public async ValueTask SynchronizeCacheAsync(CancellationToken ct = default)
    {
        var cdb = new byte[16];
        try
        {
            Cdb.SynchronizeCache16(cdb);
            await ExecuteAsync("SYNCHRONIZE CACHE(16)", new ScsiCommand(LunField, cdb), ct).ConfigureAwait(false);
        }
        catch (ScsiException e) when (e.Sense is { SenseKey: SenseData.IllegalRequest, Asc: 0x20 })
        {
            Cdb.SynchronizeCache10(cdb);
            await ExecuteAsync("SYNCHRONIZE CACHE(10)", new ScsiCommand(LunField, cdb.AsMemory(0, 10)), ct).ConfigureAwait(false);
        }
    }

    /// <summary>UNMAP one extent (the caller keeps it within the target's MaxUnmapBlocks).</summary>
    public async ValueTask UnmapAsync(ulong lba, uint blocks, CancellationToken ct = default)
    {
        CheckRange(lba, blocks);
        var cdb = new byte[10];
        var list = new byte[24];
        Cdb.UnmapParameters(list, lba, blocks);
        Cdb.Unmap(cdb, 24);
        await ExecuteAsync("UNMAP", new ScsiCommand(LunField, cdb, writeBuffer: list), ct).ConfigureAwait(false);
    }

    /// <summary>WRITE SAME(16) of zeroes; with <paramref name="unmap"/> the target may deallocate instead.</summary>
    public async ValueTask WriteSameZeroesAsync(ulong lba, uint blocks, bool unmap, CancellationToken ct = default)
    {
        CheckRange(lba, blocks);
        var cdb = new byte[16];
        Cdb.WriteSame16(cdb, lba, blocks, unmap, noDataOut: false);
        byte[] zero = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            Array.Clear(zero, 0, BlockSize);
            await ExecuteAsync("WRITE SAME(16)", new ScsiCommand(LunField, cdb, writeBuffer: zero.AsMemory(0, BlockSize)), ct).ConfigureAwait(false);
        }
        finally { ArrayPool<byte>.Shared.Return(zero); }
    }

    /// <summary>The most LUNs a REPORT LUNS answer may list (as Linux's max_scsi_report_luns).</summary>
    public const int MaxReportedLuns = 16383;

    /// <summary>REPORT LUNS on LUN 0 of a session: the LUN numbers the target exposes to us. A list longer than
    /// the first buffer is asked for again with room for all of it.</summary>
    public static async Task<IReadOnlyList<int>> ReportLunsAsync(IScsiSession session, CancellationToken ct = default)
    {
        var cdb = new byte[12];
        var data = new byte[8 + 8 * 256];
        Cdb.ReportLuns(cdb, (uint)data.Length);
        for (int attempt = 0; ; attempt++)
        {
            var result = await session.ExecuteAsync(new ScsiCommand(0, cdb, data), ct).ConfigureAwait(false);
            if (!result.IsGood)
            {
                if (attempt < MaxRetries && IsTransient(result)) continue;
                throw ScsiException.From($"REPORT LUNS on {session.TargetName}", result);
            }
            int transferred = result.Transferred(data.Length);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data);
            if (transferred < 8 || length % 8 != 0 || length / 8 > MaxReportedLuns)
                throw new IOException($"REPORT LUNS on {session.TargetName} returned an unusable LUN list " +
                                      $"({transferred} bytes, list length {length}; at most {MaxReportedLuns} LUNs of 8 bytes are accepted)");
            if (length > data.Length - 8 && attempt < MaxRetries)
            {
                data = new byte[8 + length];
                Cdb.ReportLuns(cdb, (uint)data.Length);
                continue;
            }
            int count = (int)Math.Min(length, (uint)(transferred - 8)) / 8;
            var luns = new List<int>(count);
            for (int i = 0; i < count; i++)
            {
                int lun = LunAddress.Decode(BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(8 + i * 8)));
                if (lun >= 0) luns.Add(lun);
            }
            return luns;
        }
    }
}
