namespace IscsiUp.TestTarget.Scsi;

/// <summary>Operation codes (first CDB byte) of the SPC-4 and SBC-3 commands this target implements.</summary>
public static class ScsiOpcode
{
    public const byte TestUnitReady = 0x00;
    public const byte RequestSense = 0x03;
    public const byte Read6 = 0x08;
    public const byte Write6 = 0x0A;
    public const byte Inquiry = 0x12;
    public const byte ModeSense6 = 0x1A;
    public const byte StartStopUnit = 0x1B;
    public const byte ReadCapacity10 = 0x25;
    public const byte Read10 = 0x28;
    public const byte Write10 = 0x2A;
    public const byte Verify10 = 0x2F;
    public const byte SynchronizeCache10 = 0x35;
    public const byte WriteSame10 = 0x41;
    public const byte Unmap = 0x42;
    public const byte ModeSense10 = 0x5A;
    public const byte Read16 = 0x88;
    public const byte Write16 = 0x8A;
    public const byte Verify16 = 0x8F;
    public const byte SynchronizeCache16 = 0x91;
    public const byte WriteSame16 = 0x93;
    /// <summary>SERVICE ACTION IN(16); service action 0x10 is READ CAPACITY(16).</summary>
    public const byte ServiceActionIn16 = 0x9E;
    public const byte ReadCapacity16ServiceAction = 0x10;
    public const byte ReportLuns = 0xA0;
    public const byte Read12 = 0xA8;
    public const byte Write12 = 0xAA;
    public const byte Verify12 = 0xAF;
}
