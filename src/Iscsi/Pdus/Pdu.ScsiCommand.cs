namespace IscsiUp.Iscsi.Pdus;

/// <summary>The flags of a SCSI Command (RFC 7143 section 11.3.1); its other fields are in Pdu.cs.</summary>
public sealed partial class Pdu
{
    /// <summary>R: the command reads data (Data-In follows).</summary>
    public bool IsRead { get => HasFlag(PduFlags.Read); set => SetFlag(PduFlags.Read, value); }

    /// <summary>W: the command writes data (Data-Out or immediate data).</summary>
    public bool IsWrite { get => HasFlag(PduFlags.Write); set => SetFlag(PduFlags.Write, value); }

    public TaskAttribute TaskAttribute
    {
        get => (TaskAttribute)(Bhs[1] & PduFlags.TaskAttributeMask);
        set => Bhs[1] = (byte)((Bhs[1] & ~PduFlags.TaskAttributeMask) | ((byte)value & PduFlags.TaskAttributeMask));
    }
}
