using IscsiUp.Iscsi.Scsi;
namespace IscsiUp.Initiator.Scsi;

/// <summary>A SCSI command that ended with a status other than GOOD, described for people.</summary>
public sealed class ScsiException(string message, byte status, SenseData? sense) : IOException(message)
{
    public byte Status { get; } = status;
    public SenseData? Sense { get; } = sense;

    public static ScsiException From(string operation, ScsiResult result)
    {
        var sense = result.Sense is { } bytes ? SenseData.Parse(bytes) : null;
        string what = result.Status switch
        {
            ScsiResult.CheckCondition => sense?.ToString() ?? "CHECK CONDITION without sense data",
            ScsiResult.Busy => "target busy",
            ScsiResult.ReservationConflict => "reservation conflict (another initiator holds a reservation)",
            ScsiResult.TaskSetFull => "task set full",
            ScsiResult.TaskAborted => "task aborted",
            _ => $"SCSI status 0x{result.Status:x2}",
        };
        return new ScsiException($"{operation} failed: {what}", result.Status, sense);
    }
}
