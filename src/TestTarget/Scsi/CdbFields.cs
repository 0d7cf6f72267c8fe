using System.Buffers.Binary;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// Field extraction for the CDB layouts of SBC-3/SPC-4: the 6-, 10-, 12- and 16-byte LBA forms, allocation
/// lengths, and the flag bits. Big-endian throughout.
/// </summary>
public static class CdbFields
{
    public static ushort U16(ReadOnlySpan<byte> cdb, int offset) => BinaryPrimitives.ReadUInt16BigEndian(cdb[offset..]);
    public static uint U32(ReadOnlySpan<byte> cdb, int offset) => BinaryPrimitives.ReadUInt32BigEndian(cdb[offset..]);
    public static ulong U64(ReadOnlySpan<byte> cdb, int offset) => BinaryPrimitives.ReadUInt64BigEndian(cdb[offset..]);

    /// <summary>The CDB length implied by the operation code's group (SPC-4 section 4.2.5.1).</summary>
    public static int Length(byte opcode) => (opcode >> 5) switch
    {
        0 => 6,
        1 or 2 => 10,
        4 => 16,
        5 => 12,
        _ => 16,
    };

    /// <summary>LBA and block count of READ/WRITE/VERIFY/WRITE SAME/SYNCHRONIZE CACHE in their 6-, 10-, 12- or 16-byte form.</summary>
    public static BlockRange Range(ReadOnlySpan<byte> cdb) => Length(cdb[0]) switch
    {
        // READ(6)/WRITE(6): 21-bit LBA; a length of 0 means 256 blocks.
        6 => new(((uint)(cdb[1] & 0x1F) << 16) | U16(cdb, 2), cdb[4] == 0 ? 256u : cdb[4]),
        10 => new(U32(cdb, 2), U16(cdb, 7)),
        12 => new(U32(cdb, 2), U32(cdb, 6)),
        _ => new(U64(cdb, 2), U32(cdb, 10)),
    };

    /// <summary>The FUA bit (byte 1, bit 3) of the 10/12/16-byte READ and WRITE.</summary>
    public static bool Fua(ReadOnlySpan<byte> cdb) => Length(cdb[0]) != 6 && (cdb[1] & 0x08) != 0;

    /// <summary>RDPROTECT/WRPROTECT/VRPROTECT (byte 1, bits 7-5): this device has no protection information.</summary>
    public static int Protect(ReadOnlySpan<byte> cdb) => Length(cdb[0]) == 6 ? 0 : cdb[1] >> 5;
}
