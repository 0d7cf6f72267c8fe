using System.Buffers.Binary;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// The 8-byte LUN field of SAM-5 (section 4.6): LUNs below 256 use peripheral device addressing
/// (byte 0 = 0, byte 1 = LUN), larger ones flat space addressing (byte 0 = 0x40 | high bits).
/// </summary>
public static class LunAddress
{
    public static ulong Encode(int lun) => lun switch
    {
        < 0 or > 0x3FFF => throw new ArgumentOutOfRangeException(nameof(lun), "LUN must be 0-16383"),
        < 256 => (ulong)lun << 48,
        _ => (ulong)(0x4000 | lun) << 48,
    };

    /// <summary>The LUN number, or -1 for an addressing method or extra levels this target does not use.</summary>
    public static int Decode(ulong field)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, field);
        if (BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]) != 0 || BinaryPrimitives.ReadUInt16BigEndian(bytes[6..]) != 0) return -1;
        return (bytes[0] >> 6) switch
        {
            0 when bytes[0] == 0 => bytes[1],
            1 => ((bytes[0] & 0x3F) << 8) | bytes[1],
            _ => -1,
        };
    }
}
