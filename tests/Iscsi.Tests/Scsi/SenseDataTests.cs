using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Iscsi.Tests.Scsi;

/// <summary>Sense data in fixed (0x70/0x71) and descriptor (0x72/0x73) formats.</summary>
public sealed class SenseDataTests
{
    private static byte[] Fixed(byte code, byte key, byte asc, byte ascq)
    {
        var sense = new byte[18];
        sense[0] = code;
        sense[2] = key;
        sense[7] = 10; // additional sense length
        sense[12] = asc;
        sense[13] = ascq;
        return sense;
    }

    [Fact]
    public void Fixed_format_current_error()
    {
        var sense = SenseData.Parse(Fixed(0x70, SenseData.IllegalRequest, 0x24, 0x00));
        Assert.Equal(new SenseData(SenseData.IllegalRequest, 0x24, 0x00, false), sense);
        Assert.Equal("ILLEGAL REQUEST: invalid field in CDB", sense.ToString());
    }

    [Fact]
    public void Fixed_format_with_valid_bit_ili_and_deferred_error()
    {
        // 0xF1: VALID bit + deferred; byte 2 carries FILEMARK/EOM/ILI bits above the key.
        var bytes = Fixed(0xF1, 0x20 | SenseData.MediumError, 0x11, 0x00);
        var sense = SenseData.Parse(bytes)!.Value;
        Assert.Equal(SenseData.MediumError, sense.SenseKey);
        Assert.True(sense.Deferred);
        Assert.Equal("MEDIUM ERROR: unrecovered read error", sense.ToString());
    }

    [Fact]
    public void Descriptor_format_current_and_deferred()
    {
        var current = SenseData.Parse([0x72, SenseData.UnitAttention, 0x29, 0x00, 0, 0, 0, 0]);
        Assert.Equal(new SenseData(SenseData.UnitAttention, 0x29, 0x00, false), current);
        Assert.Equal("UNIT ATTENTION: power on, reset, or bus device reset occurred", current.ToString());

        var deferred = SenseData.Parse([0x73, SenseData.NotReady, 0x04, 0x01]);
        Assert.Equal(new SenseData(SenseData.NotReady, 0x04, 0x01, true), deferred);
        Assert.Contains("becoming ready", deferred.ToString());
    }

    [Fact]
    public void Short_fixed_sense_without_asc_still_gives_the_key()
    {
        var sense = SenseData.Parse([0x70, 0x00, SenseData.DataProtect]);
        Assert.Equal(new SenseData(SenseData.DataProtect, 0, 0, false), sense);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x70 })]
    [InlineData(new byte[] { 0x70, 0x00 })]          // fixed, no key byte
    [InlineData(new byte[] { 0x72, 0x05, 0x24 })]    // descriptor, no ASCQ
    [InlineData(new byte[] { 0x00, 0x05, 0x24, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x24, 0 })]  // not sense data
    [InlineData(new byte[] { 0x7F, 0x05, 0x24, 0x00 })] // vendor specific format
    public void Unknown_or_short_sense_is_null(byte[] bytes) => Assert.Null(SenseData.Parse(bytes));

    [Fact]
    public void Unlisted_codes_print_in_hex()
    {
        var sense = new SenseData(0xC, 0x99, 0x01, false);
        Assert.Equal("SENSE KEY 0xc: ASC 0x99 ASCQ 0x01", sense.ToString());
    }

    [Fact]
    public void Result_reports_bytes_transferred_from_the_residual()
    {
        Assert.Equal(512, new ScsiResult(0, null, 0, false, false).Transferred(512));
        Assert.Equal(100, new ScsiResult(0, null, 412, true, false).Transferred(512));
        Assert.Equal(512, new ScsiResult(0, null, 100, false, true).Transferred(512));
        Assert.True(new ScsiResult(ScsiResult.ConditionMet, null, 0, false, false).IsGood);
        Assert.False(new ScsiResult(ScsiResult.CheckCondition, null, 0, false, false).IsGood);
    }
}
