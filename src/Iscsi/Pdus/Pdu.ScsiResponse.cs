namespace IscsiUp.Iscsi.Pdus;

/// <summary>The status flags of SCSI Response and Data-In PDUs (RFC 7143 sections 11.4 and 11.7).</summary>
public sealed partial class Pdu
{
    /// <summary>S (Data-In): the PDU carries the command's status, and the residual.</summary>
    public bool HasStatus { get => HasFlag(PduFlags.Status); set => SetFlag(PduFlags.Status, value); }

    /// <summary>A (Data-In): the target asks for a DataACK.</summary>
    public bool Acknowledge { get => HasFlag(PduFlags.Acknowledge); set => SetFlag(PduFlags.Acknowledge, value); }

    /// <summary>O: <see cref="ResidualCount"/> is how much more data the command had than expected.</summary>
    public bool ResidualOverflow { get => HasFlag(PduFlags.Overflow); set => SetFlag(PduFlags.Overflow, value); }

    /// <summary>U: <see cref="ResidualCount"/> is how much less data the command had than expected.</summary>
    public bool ResidualUnderflow { get => HasFlag(PduFlags.Underflow); set => SetFlag(PduFlags.Underflow, value); }

    /// <summary>ExpDataSN (bytes 36-39) of a SCSI Response: the Data-In PDUs the target sent for the command.</summary>
    public uint ExpDataSN { get => U32(36); set => SetU32(36, value); }
}
