namespace IscsiUp.Iscsi.Scsi;

/// <summary>Decoded SCSI sense data (SPC-4 section 4.5), fixed or descriptor format.</summary>
public readonly record struct SenseData(byte SenseKey, byte Asc, byte Ascq, bool Deferred)
{
    public const byte NoSense = 0x0, RecoveredError = 0x1, NotReady = 0x2, MediumError = 0x3, HardwareError = 0x4,
        IllegalRequest = 0x5, UnitAttention = 0x6, DataProtect = 0x7, AbortedCommand = 0xB, MiscompareKey = 0xE;

    public static SenseData? Parse(ReadOnlySpan<byte> sense)
    {
        if (sense.Length < 2) return null;
        int code = sense[0] & 0x7F;
        switch (code)
        {
            case 0x70 or 0x71 when sense.Length >= 3:
                return new SenseData((byte)(sense[2] & 0x0F), sense.Length > 12 ? sense[12] : (byte)0, sense.Length > 13 ? sense[13] : (byte)0, code == 0x71);
            case 0x72 or 0x73 when sense.Length >= 4:
                return new SenseData((byte)(sense[1] & 0x0F), sense[2], sense[3], code == 0x73);
            default:
                return null;
        }
    }

    public string KeyName => SenseKey switch
    {
        NoSense => "NO SENSE", RecoveredError => "RECOVERED ERROR", NotReady => "NOT READY", MediumError => "MEDIUM ERROR",
        HardwareError => "HARDWARE ERROR", IllegalRequest => "ILLEGAL REQUEST", UnitAttention => "UNIT ATTENTION",
        DataProtect => "DATA PROTECT", 0x8 => "BLANK CHECK", 0x9 => "VENDOR SPECIFIC", 0xA => "COPY ABORTED",
        AbortedCommand => "ABORTED COMMAND", 0xD => "VOLUME OVERFLOW", MiscompareKey => "MISCOMPARE", _ => $"SENSE KEY 0x{SenseKey:x}",
    };

    /// <summary>The additional sense code in words, for the common codes; hex otherwise.</summary>
    public string Description => (Asc, Ascq) switch
    {
        (0x00, 0x00) => "no additional sense information",
        (0x04, 0x00) => "logical unit not ready, cause not reportable",
        (0x04, 0x01) => "logical unit is in process of becoming ready",
        (0x04, 0x02) => "logical unit not ready, initializing command required",
        (0x04, _) => "logical unit not ready",
        (0x0C, 0x00) => "write error",
        (0x11, 0x00) => "unrecovered read error",
        (0x1A, 0x00) => "parameter list length error",
        (0x20, 0x00) => "invalid command operation code",
        (0x21, 0x00) => "logical block address out of range",
        (0x24, 0x00) => "invalid field in CDB",
        (0x25, 0x00) => "logical unit not supported",
        (0x26, 0x00) => "invalid field in parameter list",
        (0x27, _) => "write protected",
        (0x28, 0x00) => "not ready to ready change, medium may have changed",
        (0x29, _) => "power on, reset, or bus device reset occurred",
        (0x2A, 0x01) => "mode parameters changed",
        (0x2A, 0x09) => "capacity data has changed",
        (0x2A, _) => "parameters changed",
        (0x3A, _) => "medium not present",
        (0x3F, 0x0E) => "reported LUNs data has changed",
        (0x44, 0x00) => "internal target failure",
        (0x47, _) => "SCSI parity error",
        (0x55, 0x03) => "insufficient resources",
        _ => $"ASC 0x{Asc:x2} ASCQ 0x{Ascq:x2}",
    };

    public override string ToString() => $"{KeyName}: {Description}";
}
