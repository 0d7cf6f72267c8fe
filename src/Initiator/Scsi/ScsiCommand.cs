namespace IscsiUp.Initiator.Scsi;

/// <summary>
/// A SCSI command to send: the CDB, the LUN, and the data buffer for whichever direction it moves data.
/// A command moves data in at most one direction here (no bidirectional commands).
/// </summary>
public readonly struct ScsiCommand
{
    public ScsiCommand(ulong lun, ReadOnlyMemory<byte> cdb, Memory<byte> readBuffer = default, ReadOnlyMemory<byte> writeBuffer = default)
    {
        if (cdb.Length is < 6 or > 16) throw new ArgumentException("a CDB is 6 to 16 bytes", nameof(cdb));
        if (!readBuffer.IsEmpty && !writeBuffer.IsEmpty) throw new ArgumentException("bidirectional commands are not supported");
        Lun = lun;
        Cdb = cdb;
        ReadBuffer = readBuffer;
        WriteBuffer = writeBuffer;
    }

    public ulong Lun { get; }
    public ReadOnlyMemory<byte> Cdb { get; }
    public Memory<byte> ReadBuffer { get; }
    public ReadOnlyMemory<byte> WriteBuffer { get; }
    public bool IsRead => !ReadBuffer.IsEmpty;
    public bool IsWrite => !WriteBuffer.IsEmpty;
    public int ExpectedLength => IsRead ? ReadBuffer.Length : WriteBuffer.Length;
}
