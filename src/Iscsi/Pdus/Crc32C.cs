using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// CRC32C (Castagnoli) as iSCSI digests use it (RFC 7143 section 13.1): initial value and final XOR 0xFFFFFFFF,
/// sent on the wire little-endian. BitOperations.Crc32C uses the SSE4.2/ARMv8 instruction when present.
/// </summary>
public static class Crc32C
{
    public const uint Seed = 0xFFFFFFFF;

    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Seed, data));

    /// <summary>Continues a running (un-finished) CRC over more bytes.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in words)
            crc = BitOperations.Crc32C(crc, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        for (int i = words.Length * 8; i < data.Length; i++)
            crc = BitOperations.Crc32C(crc, data[i]);
        return crc;
    }

    public static uint Finish(uint crc) => crc ^ 0xFFFFFFFF;
}
