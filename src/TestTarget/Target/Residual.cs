namespace IscsiUp.TestTarget.Target;

/// <summary>
/// The residual of a command (RFC 7143 section 11.4.5): overflow when the command had more data than the
/// initiator's Expected Data Transfer Length allowed, underflow when it had less.
/// </summary>
public readonly record struct Residual(byte Flags, uint Count)
{
    public static readonly Residual None = new(0, 0);

    /// <param name="expected">The initiator's Expected Data Transfer Length.</param>
    /// <param name="actual">The bytes the command itself transfers (allocation-length cut data, or blocks times block size).</param>
    public static Residual Of(uint expected, long actual) =>
        actual > expected ? new(TargetPdus.OverflowFlag, (uint)Math.Min(actual - expected, uint.MaxValue))
        : actual < expected ? new(TargetPdus.UnderflowFlag, (uint)(expected - actual))
        : None;
}
