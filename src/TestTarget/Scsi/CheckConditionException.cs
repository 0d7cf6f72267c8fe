namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// Ends a command with CHECK CONDITION and the given sense. Thrown inside command handlers so that deep
/// validation code can bail out in one line; the device turns it into a <see cref="ScsiResult"/>.
/// </summary>
public sealed class CheckConditionException(SenseKey key, AdditionalSense sense, ushort? cdbFieldPointer = null, uint? information = null)
    : Exception($"CHECK CONDITION {key} {sense}")
{
    public SenseKey Key { get; } = key;
    public AdditionalSense Sense { get; } = sense;
    public ushort? CdbFieldPointer { get; } = cdbFieldPointer;
    public uint? Information { get; } = information;

    public static CheckConditionException InvalidField(ushort cdbByte) =>
        new(SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb, cdbByte);

    public static CheckConditionException LbaOutOfRange() => new(SenseKey.IllegalRequest, AdditionalSense.LbaOutOfRange);

    public ScsiResult ToResult() => ScsiResult.CheckCondition(SenseBuilder.Fixed(Key, Sense, Information, CdbFieldPointer));
}
