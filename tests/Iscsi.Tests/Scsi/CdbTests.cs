using System.Buffers.Binary;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Iscsi.Tests.Scsi;

/// <summary>The CDBs built for I/O.</summary>
public sealed class CdbTests
{
    [Fact]
    public void Read_and_write_16_cdbs()
    {
        var cdb = new byte[16];
        Array.Fill(cdb, (byte)0xEE);
        Assert.Equal(16, Cdb.Write16(cdb, 0x0102030405060708, 0x0A0B0C0D, fua: true));
        Assert.Equal(Convert.FromHexString("8A080102030405060708" + "0A0B0C0D" + "0000"), cdb);
        Cdb.Read16(cdb, 5, 8);
        Assert.Equal(Convert.FromHexString("88000000000000000005" + "00000008" + "0000"), cdb);
    }

    [Fact]
    public void Unmap_parameter_list_has_one_descriptor()
    {
        var list = new byte[24];
        Cdb.UnmapParameters(list, 1000, 64);
        Assert.Equal(Convert.FromHexString("0016" + "0010" + "00000000" + "00000000000003E8" + "00000040" + "00000000"), list);
        var cdb = new byte[10];
        Cdb.Unmap(cdb, 24);
        Assert.Equal(Convert.FromHexString("42000000000000001800"), cdb);
    }

    [Fact]
    public void Write_same_16_sets_unmap_and_ndob_bits()
    {
        var cdb = new byte[16];
        Cdb.WriteSame16(cdb, 16, 2048, unmap: true, noDataOut: false);
        Assert.Equal(0x93, cdb[0]);
        Assert.Equal(0x08, cdb[1]);
        Assert.Equal(16UL, BinaryPrimitives.ReadUInt64BigEndian(cdb.AsSpan(2)));
        Assert.Equal(2048u, BinaryPrimitives.ReadUInt32BigEndian(cdb.AsSpan(10)));
        Cdb.WriteSame16(cdb, 0, 1, unmap: false, noDataOut: true);
        Assert.Equal(0x01, cdb[1]);
    }
}
