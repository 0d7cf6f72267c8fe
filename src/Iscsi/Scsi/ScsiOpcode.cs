namespace IscsiUp.Iscsi.Scsi;

/// <summary>Operation codes of the SCSI commands the initiator sends (SPC-4, SBC-3).</summary>
public static class ScsiOpcode
{
    public const byte TestUnitReady = 0x00;
    public const byte RequestSense = 0x03;
    public const byte Inquiry = 0x12;
    public const byte ModeSense6 = 0x1A;
    public const byte ReadCapacity10 = 0x25;
    public const byte Read10 = 0x28;
    public const byte Write10 = 0x2A;
    public const byte SynchronizeCache10 = 0x35;
    public const byte Unmap = 0x42;
    public const byte Read16 = 0x88;
    public const byte Write16 = 0x8A;
    public const byte SynchronizeCache16 = 0x91;
    public const byte WriteSame16 = 0x93;
    public const byte ServiceActionIn16 = 0x9E;
    public const byte ReadCapacity16ServiceAction = 0x10;
    public const byte ReportLuns = 0xA0;

    /// <summary>The command's name for messages ("READ(16)"), or its opcode in hex.</summary>
    public static string Name(ReadOnlySpan<byte> cdb) => cdb.IsEmpty ? "command" : cdb[0] switch
    {
        TestUnitReady => "TEST UNIT READY",
        RequestSense => "REQUEST SENSE",
        Inquiry => "INQUIRY",
        ModeSense6 => "MODE SENSE(6)",
        ReadCapacity10 => "READ CAPACITY(10)",
        Read10 => "READ(10)",
        Write10 => "WRITE(10)",
        SynchronizeCache10 => "SYNCHRONIZE CACHE(10)",
        Unmap => "UNMAP",
        Read16 => "READ(16)",
        Write16 => "WRITE(16)",
        SynchronizeCache16 => "SYNCHRONIZE CACHE(16)",
        WriteSame16 => "WRITE SAME(16)",
        ServiceActionIn16 => "READ CAPACITY(16)",
        ReportLuns => "REPORT LUNS",
        _ => $"SCSI command 0x{cdb[0]:x2}",
    };
}
