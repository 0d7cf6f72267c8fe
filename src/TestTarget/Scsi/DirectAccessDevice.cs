using System.Buffers;
using System.Buffers.Binary;
using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// A direct-access block device (SBC-3) with 512-byte logical blocks over an <see cref="IBlockStorage"/>.
/// Commands run concurrently; the storage is thread-safe and commands to the same blocks are not ordered
/// (simple task attribute semantics, as the control mode page's queue algorithm modifier says).
/// </summary>
public sealed class DirectAccessDevice : ILogicalUnit
{
    public const int BlockSize = 512;

    /// <summary>A shared block of zeroes for UNMAP and NDOB WRITE SAME (never written to).</summary>
    private static readonly byte[] Zeroes = new byte[1 << 20];

    private readonly IBlockStorage _storage;

    public DirectAccessDevice(IBlockStorage storage, DeviceIdentity identity, BlockLimits? limits = null)
    {
        if (storage.Capacity < BlockSize || storage.Capacity % BlockSize != 0)
            throw new ArgumentException($"storage capacity {storage.Capacity} is not a positive multiple of {BlockSize}", nameof(storage));
        _storage = storage;
        Identity = identity;
        Limits = limits ?? new BlockLimits();
    }

    public DeviceIdentity Identity { get; }
    public BlockLimits Limits { get; }
    public ulong BlockCount => (ulong)(_storage.Capacity / BlockSize);

    /// <summary>Reports storage failures (the command still ends with sense data).</summary>
    public event Action<string>? Log;

    public long DataOutLength(ReadOnlySpan<byte> cdb)
    {
        if (cdb.IsEmpty) return 0;
        switch (cdb[0])
        {
            case ScsiOpcode.Write6 or ScsiOpcode.Write10 or ScsiOpcode.Write12 or ScsiOpcode.Write16:
                return (long)CdbFields.Range(cdb).Blocks * BlockSize;
            case ScsiOpcode.Verify10 or ScsiOpcode.Verify12 or ScsiOpcode.Verify16:
                return ((cdb[1] >> 1) & 3) switch
                {
                    1 => (long)CdbFields.Range(cdb).Blocks * BlockSize,
                    3 => BlockSize,
                    _ => 0,
                };
            case ScsiOpcode.WriteSame10:
                return BlockSize;
            case ScsiOpcode.WriteSame16:
                return (cdb[1] & 0x01) != 0 ? 0 : BlockSize; // NDOB: no data-out buffer
            case ScsiOpcode.Unmap:
                return CdbFields.U16(cdb, 7);
            default:
                return 0;
        }
    }

    public async ValueTask<ScsiResult> ExecuteAsync(ScsiRequest request, CancellationToken ct)
    {
        try
        {
            return await DispatchAsync(request, ct).ConfigureAwait(false);
        }
        catch (CheckConditionException e)
        {
            return e.ToResult();
        }
    }

    private ValueTask<ScsiResult> DispatchAsync(ScsiRequest request, CancellationToken ct)
    {
        ReadOnlySpan<byte> cdb = request.Cdb.Span;
        switch (cdb[0])
        {
            case ScsiOpcode.TestUnitReady:
            case ScsiOpcode.StartStopUnit:
                return Done(ScsiResult.Good());
            case ScsiOpcode.Inquiry:
                return Done(Inquiry(cdb));
            case ScsiOpcode.RequestSense:
                return Done(RequestSense(cdb));
            case ScsiOpcode.ReadCapacity10:
                return Done(ReadCapacity10(cdb));
            case ScsiOpcode.ServiceActionIn16:
                if ((cdb[1] & 0x1F) != ScsiOpcode.ReadCapacity16ServiceAction) throw CheckConditionException.InvalidField(1);
                return Done(ReadCapacity16(cdb));
            case ScsiOpcode.ModeSense6:
            case ScsiOpcode.ModeSense10:
                return Done(ModeSense(cdb));
            case ScsiOpcode.Read6 or ScsiOpcode.Read10 or ScsiOpcode.Read12 or ScsiOpcode.Read16:
                return ReadAsync(cdb, ct);
            case ScsiOpcode.Write6 or ScsiOpcode.Write10 or ScsiOpcode.Write12 or ScsiOpcode.Write16:
                return WriteAsync(cdb, request.DataOut, ct);
            case ScsiOpcode.Verify10 or ScsiOpcode.Verify12 or ScsiOpcode.Verify16:
                return VerifyAsync(cdb, request.DataOut, ct);
            case ScsiOpcode.SynchronizeCache10 or ScsiOpcode.SynchronizeCache16:
                return SynchronizeCacheAsync(cdb, ct);
            case ScsiOpcode.WriteSame10 or ScsiOpcode.WriteSame16:
                return WriteSameAsync(cdb, request.DataOut, ct);
            case ScsiOpcode.Unmap:
                return UnmapAsync(cdb, request.DataOut, ct);
            default:
                throw new CheckConditionException(SenseKey.IllegalRequest, AdditionalSense.InvalidCommandOperationCode, 0);
        }
    }

    private static ValueTask<ScsiResult> Done(ScsiResult result) => ValueTask.FromResult(result);

    private ScsiResult Inquiry(ReadOnlySpan<byte> cdb)
    {
        ushort allocation = CdbFields.U16(cdb, 3);
        bool evpd = (cdb[1] & 0x01) != 0;
        if ((cdb[1] & 0x02) != 0) throw CheckConditionException.InvalidField(1); // CMDDT is obsolete
        if (!evpd)
        {
            if (cdb[2] != 0) throw CheckConditionException.InvalidField(2);
            return ScsiResult.Good(InquiryData.Standard(Identity), allocation);
        }
        byte[] page = InquiryData.Vpd(cdb[2], Identity, Limits) ?? throw CheckConditionException.InvalidField(2);
        return ScsiResult.Good(page, allocation);
    }

    private static ScsiResult RequestSense(ReadOnlySpan<byte> cdb)
    {
        if ((cdb[1] & 0x01) != 0) throw CheckConditionException.InvalidField(1); // descriptor format is not offered
        // Autosense delivers every error with its command, so nothing is ever left to report here.
        return ScsiResult.Good(SenseBuilder.Fixed(SenseKey.NoSense, AdditionalSense.None), cdb[4]);
    }

    private ScsiResult ReadCapacity10(ReadOnlySpan<byte> cdb)
    {
        if ((cdb[8] & 0x01) == 0 && CdbFields.U32(cdb, 2) != 0) throw CheckConditionException.InvalidField(2);
        var data = new byte[8];
        // Larger than 2 TiB: 0xFFFFFFFF tells the initiator to use READ CAPACITY(16).
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)Math.Min(BlockCount - 1, 0xFFFF_FFFF));
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), BlockSize);
        return ScsiResult.Good(data, data.Length);
    }

    private ScsiResult ReadCapacity16(ReadOnlySpan<byte> cdb)
    {
        var data = new byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(data, BlockCount - 1);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), BlockSize);
        data[14] = 0x80 | 0x40; // LBPME (UNMAP/WRITE SAME unmap supported), LBPRZ (unmapped blocks read as zero)
        return ScsiResult.Good(data, CdbFields.U32(cdb, 10));
    }

    private ScsiResult ModeSense(ReadOnlySpan<byte> cdb)
    {
        bool six = cdb[0] == ScsiOpcode.ModeSense6;
        bool blockDescriptor = (cdb[1] & 0x08) == 0; // DBD
        bool longLba = !six && (cdb[1] & 0x10) != 0; // LLBAA
        var control = (ModePages.PageControl)(cdb[2] >> 6);
        if (control == ModePages.PageControl.Saved)
            throw new CheckConditionException(SenseKey.IllegalRequest, AdditionalSense.SavingParametersNotSupported);
        byte[] pages = ModePages.Pages((byte)(cdb[2] & 0x3F), cdb[3], control) ?? throw CheckConditionException.InvalidField(2);
        return six
            ? ScsiResult.Good(ModePages.Sense6(pages, blockDescriptor, BlockCount, BlockSize), cdb[4])
            : ScsiResult.Good(ModePages.Sense10(pages, blockDescriptor, longLba, BlockCount, BlockSize), CdbFields.U16(cdb, 7));
    }

    /// <summary>Checks protection bits, the transfer limit and the LBA range of a READ/WRITE/VERIFY.</summary>
    private BlockRange CheckedRange(ReadOnlySpan<byte> cdb, uint maxBlocks)
    {
        if (CdbFields.Protect(cdb) != 0) throw CheckConditionException.InvalidField(1);
        BlockRange range = CdbFields.Range(cdb);
        if (!range.FitsIn(BlockCount)) throw CheckConditionException.LbaOutOfRange();
        if (range.Blocks > maxBlocks) throw CheckConditionException.InvalidField((ushort)(CdbFields.Length(cdb[0]) == 6 ? 4 : 7));
        return range;
    }

    private ValueTask<ScsiResult> ReadAsync(ReadOnlySpan<byte> cdb, CancellationToken ct)
    {
        BlockRange range = CheckedRange(cdb, Limits.MaxTransferBlocks);
        return range.Blocks == 0 ? Done(ScsiResult.Good()) : ReadBlocksAsync(range, ct);
    }

    private async ValueTask<ScsiResult> ReadBlocksAsync(BlockRange range, CancellationToken ct)
    {
        int length = (int)range.Blocks * BlockSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await _storage.ReadAsync((long)range.Lba * BlockSize, buffer.AsMemory(0, length), ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return StorageFailure(e, read: true, range);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        return ScsiResult.GoodPooled(buffer, length);
    }

    private ValueTask<ScsiResult> WriteAsync(ReadOnlySpan<byte> cdb, ReadOnlyMemory<byte> dataOut, CancellationToken ct)
    {
        BlockRange range = CheckedRange(cdb, Limits.MaxTransferBlocks);
        // Fewer bytes than the CDB names: the initiator's expected length was shorter (iSCSI residual
        // overflow). Write only the whole blocks that arrived, as libiscsi's conformance suite expects.
        uint blocks = (uint)Math.Min(range.Blocks, dataOut.Length / BlockSize);
        return WriteBlocksAsync(range with { Blocks = blocks }, dataOut[..((int)blocks * BlockSize)], CdbFields.Fua(cdb), ct);
    }

    private async ValueTask<ScsiResult> WriteBlocksAsync(BlockRange range, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
    {
        try
        {
            if (!data.IsEmpty) await _storage.WriteAsync((long)range.Lba * BlockSize, data, ct).ConfigureAwait(false);
            if (fua) await _storage.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            return StorageFailure(e, read: false, range);
        }
        return ScsiResult.Good();
    }

    private ValueTask<ScsiResult> VerifyAsync(ReadOnlySpan<byte> cdb, ReadOnlyMemory<byte> dataOut, CancellationToken ct)
    {
        int byteCheck = (cdb[1] >> 1) & 3;
        if (byteCheck == 2) throw CheckConditionException.InvalidField(1);
        BlockRange range = CheckedRange(cdb, Limits.MaxTransferBlocks);
        long needed = byteCheck switch { 1 => (long)range.Blocks * BlockSize, 3 => BlockSize, _ => 0 };
        if (range.Blocks > 0 && dataOut.Length < needed) throw CheckConditionException.InvalidField(7);
        return VerifyBlocksAsync(range, byteCheck, dataOut, ct);
    }

    /// <summary>Reads the blocks (so a failed array reports a medium error) and compares them when BYTCHK asks.</summary>
    private async ValueTask<ScsiResult> VerifyBlocksAsync(BlockRange range, int byteCheck, ReadOnlyMemory<byte> expected, CancellationToken ct)
    {
        if (range.Blocks == 0) return ScsiResult.Good();
        int length = (int)range.Blocks * BlockSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await _storage.ReadAsync((long)range.Lba * BlockSize, buffer.AsMemory(0, length), ct).ConfigureAwait(false);
            for (int offset = 0; byteCheck != 0 && offset < length; offset += BlockSize)
            {
                ReadOnlySpan<byte> want = byteCheck == 1 ? expected.Span.Slice(offset, BlockSize) : expected.Span[..BlockSize];
                ReadOnlySpan<byte> have = buffer.AsSpan(offset, BlockSize);
                int mismatch = have.CommonPrefixLength(want);
                if (mismatch < BlockSize)
                    return new CheckConditionException(SenseKey.Miscompare, AdditionalSense.MiscompareDuringVerify,
                        information: (uint)(offset + mismatch)).ToResult();
            }
            return ScsiResult.Good();
        }
        catch (IOException e)
        {
            return StorageFailure(e, read: true, range);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private ValueTask<ScsiResult> SynchronizeCacheAsync(ReadOnlySpan<byte> cdb, CancellationToken ct)
    {
        BlockRange range = CdbFields.Range(cdb);
        if (!range.FitsIn(BlockCount)) throw CheckConditionException.LbaOutOfRange();
        return FlushAsync(range, ct);
    }

    private async ValueTask<ScsiResult> FlushAsync(BlockRange range, CancellationToken ct)
    {
        try
        {
            await _storage.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            return StorageFailure(e, read: false, range);
        }
        return ScsiResult.Good();
    }

    private ValueTask<ScsiResult> WriteSameAsync(ReadOnlySpan<byte> cdb, ReadOnlyMemory<byte> dataOut, CancellationToken ct)
    {
        bool sixteen = cdb[0] == ScsiOpcode.WriteSame16;
        bool noDataOut = sixteen && (cdb[1] & 0x01) != 0;
        if (CdbFields.Protect(cdb) != 0 || (cdb[1] & 0x10) != 0) throw CheckConditionException.InvalidField(1); // WRPROTECT, ANCHOR
        BlockRange range = CdbFields.Range(cdb);
        if (!range.FitsIn(BlockCount)) throw CheckConditionException.LbaOutOfRange();
        if (range.Blocks == 0 || range.Blocks > Limits.MaxWriteSameBlocks) throw CheckConditionException.InvalidField((ushort)(sixteen ? 10 : 7));
        if (!noDataOut && dataOut.Length < BlockSize) throw CheckConditionException.InvalidField((ushort)(sixteen ? 10 : 7));
        // UNMAP=1 may deallocate; since LBPRZ=1, writing the block (zeroes for an unmap request) is equivalent.
        ReadOnlyMemory<byte> pattern = noDataOut ? Zeroes.AsMemory(0, BlockSize) : dataOut[..BlockSize];
        return FillAsync(range, pattern, ct);
    }

    /// <summary>Writes <paramref name="pattern"/> (one block) to every block of <paramref name="range"/>, in chunks of up to 1 MiB.</summary>
    private async ValueTask<ScsiResult> FillAsync(BlockRange range, ReadOnlyMemory<byte> pattern, CancellationToken ct)
    {
        bool zero = !pattern.Span.ContainsAnyExcept((byte)0);
        int chunkBlocks = (int)Math.Min(range.Blocks, Zeroes.Length / BlockSize);
        byte[]? rented = null;
        ReadOnlyMemory<byte> chunk;
        if (zero) chunk = Zeroes.AsMemory(0, chunkBlocks * BlockSize);
        else
        {
            rented = ArrayPool<byte>.Shared.Rent(chunkBlocks * BlockSize);
            for (int i = 0; i < chunkBlocks; i++) pattern.Span.CopyTo(rented.AsSpan(i * BlockSize));
            chunk = rented.AsMemory(0, chunkBlocks * BlockSize);
        }
        try
        {
            ulong lba = range.Lba;
            ulong end = range.Lba + range.Blocks;
            while (lba < end)
            {
                int blocks = (int)Math.Min((ulong)chunkBlocks, end - lba);
                await _storage.WriteAsync((long)lba * BlockSize, chunk[..(blocks * BlockSize)], ct).ConfigureAwait(false);
                lba += (ulong)blocks;
            }
            return ScsiResult.Good();
        }
        catch (IOException e)
        {
            return StorageFailure(e, read: false, range);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private ValueTask<ScsiResult> UnmapAsync(ReadOnlySpan<byte> cdb, ReadOnlyMemory<byte> dataOut, CancellationToken ct)
    {
        if ((cdb[1] & 0x01) != 0) throw CheckConditionException.InvalidField(1); // ANCHOR: anchored LBAs not supported
        int listLength = Math.Min(CdbFields.U16(cdb, 7), dataOut.Length);
        if (listLength == 0) return Done(ScsiResult.Good());
        if (listLength < 8) throw new CheckConditionException(SenseKey.IllegalRequest, AdditionalSense.ParameterListLengthError);
        ReadOnlySpan<byte> list = dataOut.Span[..listLength];
        int descriptorBytes = Math.Min(CdbFields.U16(list, 2), listLength - 8);
        int count = descriptorBytes / 16;
        if (count > Limits.MaxUnmapDescriptors)
            throw new CheckConditionException(SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInParameterList);
        var ranges = new BlockRange[count];
        ulong total = 0;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> descriptor = list.Slice(8 + 16 * i, 16);
            ranges[i] = new BlockRange(CdbFields.U64(descriptor, 0), CdbFields.U32(descriptor, 8));
            if (!ranges[i].FitsIn(BlockCount)) throw CheckConditionException.LbaOutOfRange();
            total += ranges[i].Blocks;
        }
        if (total > Limits.MaxUnmapBlocks)
            throw new CheckConditionException(SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInParameterList);
        return UnmapRangesAsync(ranges, ct);
    }

    /// <summary>Unmapping writes zeroes: LBPRZ=1 promises that unmapped blocks read back as zero.</summary>
    private async ValueTask<ScsiResult> UnmapRangesAsync(BlockRange[] ranges, CancellationToken ct)
    {
        foreach (var range in ranges)
        {
            if (range.Blocks == 0) continue;
            using ScsiResult result = await FillAsync(range, Zeroes.AsMemory(0, BlockSize), ct).ConfigureAwait(false);
            if (result.Status != ScsiStatus.Good) return ScsiResult.CheckCondition(result.Sense.ToArray());
        }
        return ScsiResult.Good();
    }

    private ScsiResult StorageFailure(IOException e, bool read, BlockRange range)
    {
        Log?.Invoke($"{(read ? "read" : "write")} of {range.Blocks} blocks at LBA {range.Lba} failed: {e.Message}");
        return ScsiResult.CheckCondition(SenseBuilder.Fixed(SenseKey.MediumError,
            read ? AdditionalSense.UnrecoveredReadError : AdditionalSense.WriteError,
            information: (uint)Math.Min(range.Lba, uint.MaxValue)));
    }
}
