namespace IscsiUp.TestTarget.Scsi;

/// <summary>A SCSI logical unit: answers commands. Thread-safe; many commands may run at once.</summary>
public interface ILogicalUnit
{
    /// <summary>Bytes of Data-Out the command in <paramref name="cdb"/> transfers (0 for commands without Data-Out or with a bad CDB).</summary>
    long DataOutLength(ReadOnlySpan<byte> cdb);

    /// <summary>Runs one command. Never throws for command errors: they come back as CHECK CONDITION.</summary>
    ValueTask<ScsiResult> ExecuteAsync(ScsiRequest request, CancellationToken ct);
}
