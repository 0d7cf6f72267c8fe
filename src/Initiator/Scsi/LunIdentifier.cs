namespace IscsiUp.Initiator.Scsi;

/// <summary>
/// The world-wide name of a LUN from its Device Identification VPD page (0x83, SPC-4 7.8.6): the designator of the
/// logical unit itself (association 0) that udev's scsi_id prefers for open-iscsi's /dev/sdX, so our devices get
/// the same /dev/disk/by-id names: NAA first (the highest NAA format wins), else EUI-64.
/// </summary>
/// <param name="DesignatorType">3 for NAA, 2 for EUI-64: also the first character of scsi_id's ID_SERIAL.</param>
/// <param name="Hex">The designator in lower-case hex.</param>
public sealed record LunIdentifier(int DesignatorType, string Hex)
{
    public const byte VpdPage = 0x83;
    private const int Eui64 = 2, Naa = 3;

    /// <summary>The `wwn-0x...` name (NAA only, as udev gives it to /dev/sdX), or null.</summary>
    public string? Wwn => DesignatorType == Naa ? "0x" + Hex : null;

    /// <summary>scsi_id's ID_SERIAL for this designator: the `scsi-...` name under /dev/disk/by-id.</summary>
    public string ScsiSerial => $"{DesignatorType}{Hex}";

    /// <summary>The stored form (session records): `naa:HEX` or `eui:HEX`.</summary>
    public override string ToString() => (DesignatorType == Naa ? "naa:" : "eui:") + Hex;

    public static LunIdentifier? FromString(string? text) => text?.Split(':', 2) switch
    {
        ["naa", var hex] when IsHex(hex) => new LunIdentifier(Naa, hex),
        ["eui", var hex] when IsHex(hex) => new LunIdentifier(Eui64, hex),
        _ => null,
    };

    /// <summary>The LUN's identifier from a whole VPD 0x83 page (header included), or null when it has none we use.</summary>
    public static LunIdentifier? Parse(ReadOnlySpan<byte> page)
    {
        if (page.Length < 4 || page[1] != VpdPage) return null;
        int end = Math.Min(page.Length, 4 + ((page[2] << 8) | page[3]));
        LunIdentifier? best = null;
        int bestRank = 0;
        for (int at = 4; at + 4 <= end;)
        {
            int length = page[at + 3];
            if (at + 4 + length > end) break; // a truncated designator: ignore it and what follows
            var designator = page.Slice(at + 4, length);
            int codeSet = page[at] & 0x0F, association = (page[at + 1] >> 4) & 0x3, type = page[at + 1] & 0x0F;
            at += 4 + length;
            if (association != 0 || codeSet != 1) continue; // another port's or target's name, or not binary
            int rank = type switch
            {
                // NAA: the format is the designator's first nibble; IEEE Registered Extended (6) is the most specific.
                Naa when length is 8 or 16 => 10 + (designator[0] >> 4),
                Eui64 when length is 8 or 12 or 16 => 1,
                _ => 0,
            };
            if (rank <= bestRank) continue;
            bestRank = rank;
            best = new LunIdentifier(type, Convert.ToHexStringLower(designator));
        }
        return best;
    }

    private static bool IsHex(string text) => text.Length is > 0 and <= 32 && text.All(char.IsAsciiHexDigitLower);
}
