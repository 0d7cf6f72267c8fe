using System.Buffers;
using System.Buffers.Binary;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// One iSCSI PDU: the 48-byte Basic Header Segment, optional AHS, and a data segment.
/// Field names follow RFC 7143 section 11; offsets shared by several PDU types have one accessor per meaning
/// (for example bytes 24-27 are CmdSN in requests and StatSN in responses).
/// The data segment is either caller-owned memory or a pooled buffer returned by <see cref="Dispose"/>.
/// </summary>
public sealed partial class Pdu : IDisposable
{
    public const int BhsLength = 48;
    public const uint ReservedTag = 0xFFFFFFFF;

    public readonly byte[] Bhs = new byte[BhsLength];
    public byte[] Ahs = [];
    private byte[]? _pooled;
    private ReadOnlyMemory<byte> _data;

    public Pdu() { }

    public Pdu(Opcode opcode, bool immediate = false, bool final = true)
    {
        Opcode = opcode;
        Immediate = immediate;
        Final = final;
    }

    public Opcode Opcode
    {
        get => (Opcode)(Bhs[0] & 0x3F);
        set => Bhs[0] = (byte)((Bhs[0] & 0x40) | (byte)value);
    }

    public bool Immediate
    {
        get => (Bhs[0] & 0x40) != 0;
        set => Bhs[0] = (byte)(value ? Bhs[0] | 0x40 : Bhs[0] & ~0x40);
    }

    /// <summary>Byte 1: the opcode-specific flags (<see cref="PduFlags"/>; the partial files name them per opcode).</summary>
    public byte Flags { get => Bhs[1]; set => Bhs[1] = value; }

    public bool Final { get => HasFlag(PduFlags.Final); set => SetFlag(PduFlags.Final, value); }

    public int TotalAhsLength => Bhs[4] * 4;

    public int DataSegmentLength
    {
        get => (Bhs[5] << 16) | (Bhs[6] << 8) | Bhs[7];
        set
        {
            if ((uint)value > 0xFFFFFF) throw new ArgumentOutOfRangeException(nameof(value), "data segment longer than 16 MiB");
            Bhs[5] = (byte)(value >> 16); Bhs[6] = (byte)(value >> 8); Bhs[7] = (byte)value;
        }
    }

    public ulong Lun { get => U64(8); set => SetU64(8, value); }
    public uint InitiatorTaskTag { get => U32(16); set => SetU32(16, value); }
    public uint TargetTransferTag { get => U32(20); set => SetU32(20, value); }

    // Requests
    public uint CmdSN { get => U32(24); set => SetU32(24, value); }
    public uint ExpStatSN { get => U32(28); set => SetU32(28, value); }

    // Responses
    public uint StatSN { get => U32(24); set => SetU32(24, value); }
    public uint ExpCmdSN { get => U32(28); set => SetU32(28, value); }
    public uint MaxCmdSN { get => U32(32); set => SetU32(32, value); }

    // SCSI Command
    public uint ExpectedDataTransferLength { get => U32(20); set => SetU32(20, value); }
    public Span<byte> Cdb => Bhs.AsSpan(32, 16);

    // Data-In / Data-Out / R2T
    public uint DataSN { get => U32(36); set => SetU32(36, value); }
    public uint R2TSN { get => U32(36); set => SetU32(36, value); }
    public uint BufferOffset { get => U32(40); set => SetU32(40, value); }
    public uint DesiredDataTransferLength { get => U32(44); set => SetU32(44, value); }
    public uint ResidualCount { get => U32(44); set => SetU32(44, value); }
    public uint BidiReadResidualCount { get => U32(40); set => SetU32(40, value); }

    // SCSI Response and Data-In with S bit
    public byte Response { get => Bhs[2]; set => Bhs[2] = value; }
    public byte Status { get => Bhs[3]; set => Bhs[3] = value; }

    private bool HasFlag(byte flag) => (Bhs[1] & flag) != 0;
    private void SetFlag(byte flag, bool value) => Bhs[1] = (byte)(value ? Bhs[1] | flag : Bhs[1] & ~flag);

    public uint U32(int offset) => BinaryPrimitives.ReadUInt32BigEndian(Bhs.AsSpan(offset));
    public void SetU32(int offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(Bhs.AsSpan(offset), value);
    public ushort U16(int offset) => BinaryPrimitives.ReadUInt16BigEndian(Bhs.AsSpan(offset));
    public void SetU16(int offset, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Bhs.AsSpan(offset), value);
    public ulong U64(int offset) => BinaryPrimitives.ReadUInt64BigEndian(Bhs.AsSpan(offset));
    public void SetU64(int offset, ulong value) => BinaryPrimitives.WriteUInt64BigEndian(Bhs.AsSpan(offset), value);

    /// <summary>The data segment (without padding).</summary>
    public ReadOnlyMemory<byte> Data => _data;

    /// <summary>Points the data segment at caller-owned memory and sets DataSegmentLength.</summary>
    public void SetData(ReadOnlyMemory<byte> data)
    {
        ReleasePooled();
        _data = data;
        DataSegmentLength = data.Length;
    }

    /// <summary>Rents a pooled buffer of <paramref name="length"/> bytes as the data segment and returns it for filling.</summary>
    public Memory<byte> RentData(int length)
    {
        ReleasePooled();
        _pooled = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        _data = _pooled.AsMemory(0, length);
        DataSegmentLength = length;
        return _pooled.AsMemory(0, length);
    }

    /// <summary>Clears the header and data so the object can be reused.</summary>
    public void Reset()
    {
        Array.Clear(Bhs);
        Ahs = [];
        ReleasePooled();
        _data = default;
    }

    private void ReleasePooled()
    {
        if (_pooled is { } buffer)
        {
            _pooled = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose() => ReleasePooled();

    public override string ToString() =>
        $"{Opcode} itt=0x{InitiatorTaskTag:x8} flags=0x{Flags:x2} dlen={DataSegmentLength}";
}
