using System.Buffers.Binary;

namespace IscsiUp.Initiator.Scsi;

/// <summary>
/// Block Limits VPD page 0xB0 (SBC-3 6.5.3) and Logical Block Provisioning page 0xB2: how large a single
/// command may be, and whether UNMAP / WRITE SAME with UNMAP are available. Zero means "not reported".
/// </summary>
public sealed record BlockLimits(uint MaxTransferBlocks, uint OptimalTransferBlocks, uint MaxUnmapBlocks, uint MaxUnmapDescriptors,
    ulong MaxWriteSameBlocks, bool UnmapSupported, bool WriteSameUnmapSupported)
{
    public static readonly BlockLimits None = new(0, 0, 0, 0, 0, false, false);

    public static BlockLimits Parse(ReadOnlySpan<byte> b0, ReadOnlySpan<byte> b2)
    {
        uint U32(ReadOnlySpan<byte> page, int offset) => page.Length >= offset + 4 ? BinaryPrimitives.ReadUInt32BigEndian(page[offset..]) : 0;
        ulong maxWriteSame = b0.Length >= 44 ? BinaryPrimitives.ReadUInt64BigEndian(b0[36..]) : 0;
        bool lbpu = b2.Length > 5 && (b2[5] & 0x80) != 0;
        bool lbpws = b2.Length > 5 && (b2[5] & 0x40) != 0;
        return new BlockLimits(U32(b0, 8), U32(b0, 12), U32(b0, 20), U32(b0, 24), maxWriteSame, lbpu, lbpws);
    }
}
