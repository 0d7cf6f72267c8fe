namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// The bits of BHS byte 1, named per opcode (RFC 7143 section 11). The same bit means different things in
/// different PDUs (0x80 is F in most, T in Login; 0x40 is R in a SCSI Command, C in Text and Login, A in
/// Data-In), so each name says which PDUs it belongs to. <see cref="Pdu"/> reads and writes them by name.
/// </summary>
public static class PduFlags
{
    /// <summary>F: the last PDU of a sequence (all but Login).</summary>
    public const byte Final = 0x80;

    // SCSI Command (section 11.3.1)
    /// <summary>R: the command reads data from the target.</summary>
    public const byte Read = 0x40;
    /// <summary>W: the command writes data to the target.</summary>
    public const byte Write = 0x20;
    /// <summary>ATTR: the task attribute (low 3 bits).</summary>
    public const byte TaskAttributeMask = 0x07;

    // Text and Login (sections 11.10-11.13)
    /// <summary>C: the text goes on in the next PDU.</summary>
    public const byte Continue = 0x40;
    /// <summary>T: Login only, the sender wants to move to the next stage.</summary>
    public const byte Transit = 0x80;
    /// <summary>CSG: Login only, the current stage (bits 2-3).</summary>
    public const byte CurrentStageMask = 0x0C;
    /// <summary>NSG: Login only, the next stage (bits 0-1), valid when T is set.</summary>
    public const byte NextStageMask = 0x03;

    // SCSI Response and Data-In (sections 11.4.1, 11.7.1)
    /// <summary>A: Data-In only, the target asks for a DataACK (ErrorRecoveryLevel above 0).</summary>
    public const byte Acknowledge = 0x40;
    /// <summary>o: bidirectional read residual overflow.</summary>
    public const byte BidiOverflow = 0x10;
    /// <summary>u: bidirectional read residual underflow.</summary>
    public const byte BidiUnderflow = 0x08;
    /// <summary>O: residual overflow, the command had more data than the expected length.</summary>
    public const byte Overflow = 0x04;
    /// <summary>U: residual underflow, the command had less data than the expected length.</summary>
    public const byte Underflow = 0x02;
    /// <summary>S: Data-In only, the PDU carries the command's status.</summary>
    public const byte Status = 0x01;

    // Task Management Function Request and Logout Request (sections 11.5.1, 11.14.1)
    /// <summary>The function (task management) or reason code (logout), below the F bit.</summary>
    public const byte FunctionMask = 0x7F;
}
