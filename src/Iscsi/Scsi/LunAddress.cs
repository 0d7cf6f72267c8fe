namespace IscsiUp.Iscsi.Scsi;

/// <summary>SAM-5 LUN encoding for the 8-byte LUN field: peripheral addressing below 256, flat addressing up to 16383.</summary>
public static class LunAddress
{
    public static ulong Encode(int lun) => lun switch
    {
        < 0 or > 16383 => throw new ArgumentOutOfRangeException(nameof(lun), "LUN must be 0 to 16383"),
        < 256 => (ulong)lun << 48,
        _ => ((ulong)(0x40 | (lun >> 8)) << 56) | ((ulong)(lun & 0xFF) << 48),
    };

    /// <summary>The LUN number, or -1 for an addressing method or extra levels this code does not use.</summary>
    public static int Decode(ulong field)
    {
        if ((field & 0x0000_FFFF_FFFF_FFFF) != 0) return -1; // a second addressing level
        int method = (int)(field >> 62);
        int high = (int)(field >> 56) & 0x3F;
        int low = (int)(field >> 48) & 0xFF;
        return method switch
        {
            0 => high == 0 ? low : -1, // peripheral device addressing, bus 0
            1 => (high << 8) | low,   // flat space addressing
            _ => -1,
        };
    }
}
