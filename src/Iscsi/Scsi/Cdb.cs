using System.Buffers.Binary;

namespace IscsiUp.Iscsi.Scsi;

/// <summary>Builds the CDBs the initiator sends, into a caller-provided 16-byte buffer (no allocation).</summary>
public static class Cdb
{
    public static int TestUnitReady(Span<byte> cdb) { cdb[..6].Clear(); return 6; }

    public static int Inquiry(Span<byte> cdb, byte? vpdPage, ushort allocationLength)
    {
        cdb[..6].Clear();
        cdb[0] = ScsiOpcode.Inquiry;
        if (vpdPage is { } page) { cdb[1] = 0x01; cdb[2] = page; }
        BinaryPrimitives.WriteUInt16BigEndian(cdb[3..], allocationLength);
        return 6;
    }

    public static int ReadCapacity10(Span<byte> cdb) { cdb[..10].Clear(); cdb[0] = ScsiOpcode.ReadCapacity10; return 10; }

    public static int ReadCapacity16(Span<byte> cdb, uint allocationLength)
    {
        cdb[..16].Clear();
        cdb[0] = ScsiOpcode.ServiceActionIn16;
        cdb[1] = ScsiOpcode.ReadCapacity16ServiceAction;
        BinaryPrimitives.WriteUInt32BigEndian(cdb[10..], allocationLength);
        return 16;
    }

    public static int Read16(Span<byte> cdb, ulong lba, uint blocks, bool fua = false) => Rw16(cdb, ScsiOpcode.Read16, lba, blocks, fua);
    public static int Write16(Span<byte> cdb, ulong lba, uint blocks, bool fua) => Rw16(cdb, ScsiOpcode.Write16, lba, blocks, fua);

    private static int Rw16(Span<byte> cdb, byte opcode, ulong lba, uint blocks, bool fua)
    {
        cdb[..16].Clear();
        cdb[0] = opcode;
        if (fua) cdb[1] = 0x08;
        BinaryPrimitives.WriteUInt64BigEndian(cdb[2..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb[10..], blocks);
        return 16;
    }

    public static int SynchronizeCache16(Span<byte> cdb, ulong lba = 0, uint blocks = 0)
    {
        cdb[..16].Clear();
        cdb[0] = ScsiOpcode.SynchronizeCache16;
        BinaryPrimitives.WriteUInt64BigEndian(cdb[2..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb[10..], blocks);
        return 16;
    }

    public static int SynchronizeCache10(Span<byte> cdb) { cdb[..10].Clear(); cdb[0] = ScsiOpcode.SynchronizeCache10; return 10; }

    /// <summary>WRITE SAME(16) of one block; <paramref name="unmap"/> lets the target deallocate, <paramref name="noDataOut"/> means zeroes without a data block.</summary>
    public static int WriteSame16(Span<byte> cdb, ulong lba, uint blocks, bool unmap, bool noDataOut)
    {
        cdb[..16].Clear();
        cdb[0] = ScsiOpcode.WriteSame16;
        cdb[1] = (byte)((unmap ? 0x08 : 0) | (noDataOut ? 0x01 : 0));
        BinaryPrimitives.WriteUInt64BigEndian(cdb[2..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb[10..], blocks);
        return 16;
    }

    public static int Unmap(Span<byte> cdb, ushort parameterListLength)
    {
        cdb[..10].Clear();
        cdb[0] = ScsiOpcode.Unmap;
        BinaryPrimitives.WriteUInt16BigEndian(cdb[7..], parameterListLength);
        return 10;
    }

    /// <summary>The UNMAP parameter list with one block descriptor (SBC-3 5.28).</summary>
    public static int UnmapParameters(Span<byte> list, ulong lba, uint blocks)
    {
        list[..24].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(list, 22);       // data length after this field
        BinaryPrimitives.WriteUInt16BigEndian(list[2..], 16);  // block descriptor data length
        BinaryPrimitives.WriteUInt64BigEndian(list[8..], lba);
        BinaryPrimitives.WriteUInt32BigEndian(list[16..], blocks);
        return 24;
    }

    public static int ReportLuns(Span<byte> cdb, uint allocationLength)
    {
        cdb[..12].Clear();
        cdb[0] = ScsiOpcode.ReportLuns;
        BinaryPrimitives.WriteUInt32BigEndian(cdb[6..], allocationLength);
        return 12;
    }
}
