using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// The residual of a command (RFC 7143 section 11.4.5): overflow when the command had more data than the
/// initiator's Expected Data Transfer Length allowed, underflow when it had less.
/// </summary>
public readonly record struct Residual(bool IsOverflow, uint Count)
{
    public static readonly Residual None = new(false, 0);

    public bool IsUnderflow => !IsOverflow && Count > 0;

    /// <param name="expected">The initiator's Expected Data Transfer Length.</param>
    /// <param name="actual">The bytes the command itself transfers (allocation-length cut data, or blocks times block size).</param>
    public static Residual Of(uint expected, long actual) =>
        actual > expected ? new(true, (uint)Math.Min(actual - expected, uint.MaxValue))
        : actual < expected ? new(false, (uint)(expected - actual))
        : None;

    /// <summary>Writes the O/U bits and the residual count of a SCSI Response or a Data-In with status.</summary>
    public void WriteTo(Pdu pdu)
    {
        pdu.ResidualOverflow = IsOverflow;
        pdu.ResidualUnderflow = IsUnderflow;
        pdu.ResidualCount = Count;
    }
}
