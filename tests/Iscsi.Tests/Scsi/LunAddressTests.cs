using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Iscsi.Tests.Scsi;

/// <summary>SAM-5 LUN field encoding: peripheral addressing below 256, flat space up to 16383.</summary>
public sealed class LunAddressTests
{
    [Theory]
    [InlineData(0, 0x0000_0000_0000_0000UL)]
    [InlineData(1, 0x0001_0000_0000_0000UL)]
    [InlineData(255, 0x00FF_0000_0000_0000UL)]
    [InlineData(256, 0x4100_0000_0000_0000UL)]
    [InlineData(0x1234, 0x5234_0000_0000_0000UL)]
    [InlineData(16383, 0x7FFF_0000_0000_0000UL)]
    public void Encodes_known_values(int lun, ulong field)
    {
        Assert.Equal(field, LunAddress.Encode(lun));
        Assert.Equal(lun, LunAddress.Decode(field));
    }

    [Fact]
    public void Every_lun_round_trips()
    {
        for (int lun = 0; lun <= 16383; lun++)
            Assert.Equal(lun, LunAddress.Decode(LunAddress.Encode(lun)));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(16384)]
    [InlineData(int.MaxValue)]
    public void Refuses_luns_out_of_range(int lun) => Assert.Throws<ArgumentOutOfRangeException>(() => LunAddress.Encode(lun));

    [Theory]
    [InlineData(0x0101_0000_0000_0000UL)]  // peripheral addressing on bus 1
    [InlineData(0x8001_0000_0000_0000UL)]  // logical unit addressing
    [InlineData(0xC101_0000_0000_0000UL)]  // extended addressing
    public void Other_addressing_methods_decode_as_unknown(ulong field) => Assert.Equal(-1, LunAddress.Decode(field));
}
