using IscsiUp.Iscsi.Scsi;
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
    /// <summary>
    /// When set, the caller's await resumes directly on the session's receive loop as the status arrives,
    /// instead of on a thread-pool thread: one thread hop less per command, which is most of the cost of a
    /// small I/O. The code after that await must not block (the receive loop waits for it); the block I/O path
    /// (NBD request -> READ/WRITE -> NBD reply) only awaits.
    /// </summary>
    public bool ContinueOnReceiveLoop { get; init; }
    public bool IsRead => !ReadBuffer.IsEmpty;
    public bool IsWrite => !WriteBuffer.IsEmpty;
    public int ExpectedLength => IsRead ? ReadBuffer.Length : WriteBuffer.Length;
}
