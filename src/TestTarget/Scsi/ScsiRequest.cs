namespace IscsiUp.TestTarget.Scsi;

/// <summary>One SCSI command as the transport hands it to a logical unit: the CDB and the Data-Out bytes received.</summary>
/// <param name="Cdb">The CDB (at least as long as its operation code requires; iSCSI gives 16 bytes).</param>
/// <param name="DataOut">Data-Out bytes: at most what <see cref="ILogicalUnit.DataOutLength"/> asked for, fewer when the initiator's expected length was shorter.</param>
public sealed record ScsiRequest(ReadOnlyMemory<byte> Cdb, ReadOnlyMemory<byte> DataOut = default)
{
    public byte Opcode => Cdb.Span[0];
}
