using IscsiUp.Initiator.Scsi;

namespace IscsiUp.Initiator.Tests.Scsi;

public class LunIdentifierTests
{
    /// <summary>A Device Identification page (SPC-4 7.8.6) of designators given as (byte 0, byte 1, value).</summary>
    private static byte[] Page(params (byte CodeSet, byte TypeAndAssociation, byte[] Value)[] designators)
    {
        var body = designators.SelectMany(d => new byte[] { d.CodeSet, d.TypeAndAssociation, 0, (byte)d.Value.Length }.Concat(d.Value)).ToArray();
        return [0x00, 0x83, (byte)(body.Length >> 8), (byte)body.Length, .. body];
    }

    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    [Fact]
    public void A_LIO_style_page_gives_the_logical_units_NAA_6_as_udev_names_it()
    {
        // As LIO sends it: NAA 6 of the logical unit, a T10 vendor ID, then target-port designators (relative
        // port, port group, and an NAA of the port, association 1) that must not be taken for the LUN's name.
        var page = Page(
            (0x01, 0x03, Hex("6001405a1b2c3d4e5f60718293a4b5c6")),
            (0x02, 0x01, "LIO-ORG a1b2c3d4-5f60-7182-93a4-b5c6d7e8f901"u8.ToArray()),
            (0x61, 0x94, Hex("00000001")),
            (0x61, 0x95, Hex("00000000")),
            (0x01, 0x13, Hex("5000000000000001")));

        var id = LunIdentifier.Parse(page)!;

        Assert.Equal("naa:6001405a1b2c3d4e5f60718293a4b5c6", id.ToString());
        Assert.Equal("0x6001405a1b2c3d4e5f60718293a4b5c6", id.Wwn);
        Assert.Equal("36001405a1b2c3d4e5f60718293a4b5c6", id.ScsiSerial);
        Assert.Equal(id, LunIdentifier.FromString(id.ToString()));
    }

    [Fact]
    public void The_highest_NAA_format_wins_over_a_lower_one_and_over_EUI_64()
    {
        var page = Page((0x01, 0x02, Hex("0011223344556677")), (0x01, 0x03, Hex("3000000000000009")), (0x01, 0x03, Hex("5000c50012345678")));
        Assert.Equal("naa:5000c50012345678", LunIdentifier.Parse(page)!.ToString());
    }

    [Fact]
    public void EUI_64_alone_gives_a_scsi_name_but_no_wwn_name()
    {
        var id = LunIdentifier.Parse(Page((0x01, 0x02, Hex("0011223344556677"))))!;
        Assert.Null(id.Wwn);
        Assert.Equal("20011223344556677", id.ScsiSerial);
    }

    [Fact]
    public void Pages_without_a_usable_designator_or_cut_short_give_no_identifier()
    {
        Assert.Null(LunIdentifier.Parse(Page((0x02, 0x01, "IET     disk1"u8.ToArray())))); // only a T10 vendor ID
        Assert.Null(LunIdentifier.Parse(Page((0x02, 0x03, "6001405a"u8.ToArray())))); // NAA in ASCII: not a binary NAA
        var cut = Page((0x01, 0x03, Hex("6001405a1b2c3d4e5f60718293a4b5c6")));
        Assert.Null(LunIdentifier.Parse(cut.AsSpan(0, cut.Length - 3))); // the designator runs past the data
        Assert.Null(LunIdentifier.Parse([0x00, 0x80, 0x00, 0x00])); // another page
        Assert.Null(LunIdentifier.FromString("naa:not hex"));
    }
}
