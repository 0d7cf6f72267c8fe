using System.Buffers.Binary;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>CDB builders for tests (big-endian fields as SBC-3/SPC-4 lay them out).</summary>
internal static class Cdb
{
    public static byte[] Read10(uint lba, ushort blocks, byte flags = 0) => Ten(0x28, lba, blocks, flags);
    public static byte[] Write10(uint lba, ushort blocks, byte flags = 0) => Ten(0x2A, lba, blocks, flags);
    public static byte[] Verify10(uint lba, ushort blocks, int byteCheck) => Ten(0x2F, lba, blocks, (byte)(byteCheck << 1));
    public static byte[] SynchronizeCache10() => Ten(0x35, 0, 0, 0);
    public static byte[] WriteSame10(uint lba, ushort blocks, bool unmap = false) => Ten(0x41, lba, blocks, (byte)(unmap ? 0x08 : 0));

    public static byte[] Read16(ulong lba, uint blocks) => Sixteen(0x88, lba, blocks, 0);
    public static byte[] Write16(ulong lba, uint blocks, byte flags = 0) => Sixteen(0x8A, lba, blocks, flags);
    public static byte[] WriteSame16(ulong lba, uint blocks, bool unmap = false, bool ndob = false) =>
        Sixteen(0x93, lba, blocks, (byte)((unmap ? 0x08 : 0) | (ndob ? 0x01 : 0)));

    public static byte[] Read6(uint lba, byte blocks) => [0x08, (byte)((lba >> 16) & 0x1F), (byte)(lba >> 8), (byte)lba, blocks, 0];
    public static byte[] Write6(uint lba, byte blocks) => [0x0A, (byte)((lba >> 16) & 0x1F), (byte)(lba >> 8), (byte)lba, blocks, 0];

    public static byte[] Read12(uint lba, uint blocks)
    {
        var cdb = new byte[12];
        cdb[0] = 0xA8;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(6), blocks);
        return cdb;
    }

    public static byte[] TestUnitReady() => new byte[6];

    public static byte[] Inquiry(bool evpd = false, byte page = 0, ushort allocation = 255)
    {
        var cdb = new byte[6];
        cdb[0] = 0x12;
        cdb[1] = (byte)(evpd ? 1 : 0);
        cdb[2] = page;
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(3), allocation);
        return cdb;
    }

    public static byte[] RequestSense(byte allocation = 252) => [0x03, 0, 0, 0, allocation, 0];

    public static byte[] ReadCapacity10() => new byte[10] { 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

    public static byte[] ReadCapacity16(uint allocation = 32)
    {
        var cdb = new byte[16];
        cdb[0] = 0x9E;
        cdb[1] = 0x10;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), allocation);
        return cdb;
    }

    public static byte[] ModeSense6(byte page, bool disableBlockDescriptors = false, byte pageControl = 0, byte allocation = 255) =>
        [0x1A, (byte)(disableBlockDescriptors ? 0x08 : 0), (byte)((pageControl << 6) | page), 0, allocation, 0];

    public static byte[] ModeSense10(byte page, bool longLba = false, ushort allocation = 1024)
    {
        var cdb = new byte[10];
        cdb[0] = 0x5A;
        cdb[1] = (byte)(longLba ? 0x10 : 0);
        cdb[2] = page;
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), allocation);
        return cdb;
    }

    public static byte[] ReportLuns(uint allocation = 256)
    {
        var cdb = new byte[12];
        cdb[0] = 0xA0;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(6), allocation);
        return cdb;
    }

    public static byte[] Unmap(ushort parameterLength)
    {
        var cdb = new byte[10];
        cdb[0] = 0x42;
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), parameterLength);
        return cdb;
    }

    /// <summary>UNMAP parameter list with one descriptor per (lba, blocks).</summary>
    public static byte[] UnmapList(params (ulong Lba, uint Blocks)[] ranges)
    {
        var list = new byte[8 + 16 * ranges.Length];
        BinaryPrimitives.WriteUInt16BigEndian(list, (ushort)(list.Length - 2));
        BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(2), (ushort)(16 * ranges.Length));
        for (int i = 0; i < ranges.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(list.AsSpan(8 + 16 * i), ranges[i].Lba);
            BinaryPrimitives.WriteUInt32BigEndian(list.AsSpan(16 + 16 * i), ranges[i].Blocks);
        }
        return list;
    }

    private static byte[] Ten(byte opcode, uint lba, ushort blocks, byte flags)
    {
        var cdb = new byte[10];
        cdb[0] = opcode;
        cdb[1] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(cdb.AsSpan(7), blocks);
        return cdb;
    }

    private static byte[] Sixteen(byte opcode, ulong lba, uint blocks, byte flags)
    {
        var cdb = new byte[16];
        cdb[0] = opcode;
        cdb[1] = flags;
        BinaryPrimitives.WriteUInt64BigEndian(cdb.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), blocks);
        return cdb;
    }
}
