namespace IscsiUp.Iscsi.Pdus;

/// <summary>Reason codes of the Reject PDU (RFC 7143 section 11.17.1).</summary>
public static class RejectReason
{
    public const byte DataDigestError = 0x02;
    public const byte SnackReject = 0x03;
    public const byte ProtocolError = 0x04;
    public const byte CommandNotSupported = 0x05;
    public const byte ImmediateCommandReject = 0x06;
    public const byte TaskInProgress = 0x07;
    public const byte InvalidPduField = 0x09;
    public const byte OutOfResources = 0x0A;
}
