namespace IscsiUp.Iscsi.Scsi;

/// <summary>The outcome of a SCSI command: status, sense data for CHECK CONDITION, and residual counts.</summary>
public readonly record struct ScsiResult(byte Status, byte[]? Sense, int ResidualCount, bool Underflow, bool Overflow)
{
    public const byte Good = 0x00;
    public const byte CheckCondition = 0x02;
    public const byte ConditionMet = 0x04;
    public const byte Busy = 0x08;
    public const byte ReservationConflict = 0x18;
    public const byte TaskSetFull = 0x28;
    public const byte TaskAborted = 0x40;

    public bool IsGood => Status is Good or ConditionMet;

    /// <summary>Bytes actually transferred for a command that expected <paramref name="expected"/>.</summary>
    public int Transferred(int expected) => Underflow ? expected - ResidualCount : expected;
}
