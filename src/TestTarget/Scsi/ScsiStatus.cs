namespace IscsiUp.TestTarget.Scsi;

/// <summary>SAM-5 status codes a command completes with.</summary>
public static class ScsiStatus
{
    public const byte Good = 0x00;
    public const byte CheckCondition = 0x02;
    public const byte Busy = 0x08;
    public const byte TaskSetFull = 0x28;
}
