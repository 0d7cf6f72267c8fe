using IscsiUp.Iscsi.Scsi;
namespace IscsiUp.Initiator.Scsi;

/// <summary>Something that carries SCSI commands to a target: a plain session, or one that reconnects by itself.</summary>
public interface IScsiSession
{
    string? TargetName { get; }
    ValueTask<ScsiResult> ExecuteAsync(ScsiCommand command, CancellationToken ct = default);
}
