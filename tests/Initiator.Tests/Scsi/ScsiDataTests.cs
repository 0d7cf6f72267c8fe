using System.Buffers.Binary;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Scsi;

/// <summary>Parsing of READ CAPACITY, Block Limits / provisioning VPD pages and INQUIRY (the CDBs: Iscsi.Tests CdbTests).</summary>
public sealed class ScsiDataTests
{
    [Fact]
    public void Read_capacity_16_gives_block_count_size_and_provisioning()
    {
        var data = new byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(data, 0x1_0000_0000UL - 1); // last LBA
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), 4096);
        data[14] = 0x80; // LBPME
        var capacity = ReadCapacity.Parse16(data);
        Assert.Equal(0x1_0000_0000UL, capacity.BlockCount);
        Assert.Equal(4096u, capacity.BlockSize);
        Assert.True(capacity.ThinProvisioned);
        Assert.Equal(0x1_0000_0000L * 4096, capacity.Bytes);
    }

    [Fact]
    public void Read_capacity_10_gives_block_count_and_size()
    {
        var data = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(data, 131071);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), 512);
        var capacity = ReadCapacity.Parse10(data);
        Assert.Equal(131072UL, capacity.BlockCount);
        Assert.Equal(64L * 1024 * 1024, capacity.Bytes);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(520u)]          // not a power of two
    [InlineData(2u << 20)]      // absurdly large
    public void Unusable_block_sizes_are_refused(uint blockSize)
    {
        var data = new byte[32];
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), blockSize);
        var error = Assert.Throws<IOException>(() => ReadCapacity.Parse16(data));
        Assert.Contains("block size", error.Message);
        Assert.Throws<IOException>(() => ReadCapacity.Parse16(new byte[31]));
        Assert.Throws<IOException>(() => ReadCapacity.Parse10(new byte[7]));
    }

    [Fact]
    public void Block_limits_and_provisioning_pages()
    {
        var b0 = new byte[64];
        b0[1] = 0xB0;
        BinaryPrimitives.WriteUInt32BigEndian(b0.AsSpan(8), 2048);    // maximum transfer length
        BinaryPrimitives.WriteUInt32BigEndian(b0.AsSpan(12), 128);    // optimal transfer length
        BinaryPrimitives.WriteUInt32BigEndian(b0.AsSpan(20), 8192);   // maximum unmap LBA count
        BinaryPrimitives.WriteUInt32BigEndian(b0.AsSpan(24), 1);      // maximum unmap descriptors
        BinaryPrimitives.WriteUInt64BigEndian(b0.AsSpan(36), 65536);  // maximum write same length
        var b2 = new byte[8];
        b2[1] = 0xB2;
        b2[5] = 0x80; // LBPU, not LBPWS
        var limits = BlockLimits.Parse(b0, b2);
        Assert.Equal(new BlockLimits(2048, 128, 8192, 1, 65536, true, false), limits);
        Assert.Equal(BlockLimits.None, BlockLimits.Parse([], []));
        Assert.Equal(0u, BlockLimits.Parse(b0[..16], []).MaxUnmapBlocks); // short page: only what is there
        Assert.Equal(2048u, BlockLimits.Parse(b0[..16], []).MaxTransferBlocks);
    }

    [Fact]
    public void Inquiry_names_the_device()
    {
        var data = new byte[36];
        data[0] = 0x00;
        "IET     "u8.CopyTo(data.AsSpan(8));
        "VIRTUAL-DISK    "u8.CopyTo(data.AsSpan(16));
        "0001"u8.CopyTo(data.AsSpan(32));
        var inquiry = InquiryData.Parse(data);
        Assert.Equal(("IET", "VIRTUAL-DISK", "0001"), (inquiry.Vendor, inquiry.Product, inquiry.Revision));
        Assert.Equal("disk", inquiry.DeviceTypeName);
        data[0] = 0x2C; // qualifier 1, storage array controller
        var controller = InquiryData.Parse(data);
        Assert.Equal(1, controller.PeripheralQualifier);
        Assert.Equal(0x0C, controller.DeviceType);
        Assert.Equal("storage array controller", controller.DeviceTypeName);
        Assert.Throws<IOException>(() => InquiryData.Parse(data.AsSpan(0, 35)));
    }
}
