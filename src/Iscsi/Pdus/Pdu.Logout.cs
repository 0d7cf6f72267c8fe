namespace IscsiUp.Iscsi.Pdus;

/// <summary>The fields of Logout requests and responses (RFC 7143 sections 11.14 and 11.15); CID is in Pdu.Login.cs.</summary>
public sealed partial class Pdu
{
    /// <summary>The reason code of a Logout request (0 closes the session), below the F bit.</summary>
    public byte LogoutReason
    {
        get => (byte)(Bhs[1] & PduFlags.FunctionMask);
        set => Bhs[1] = (byte)((Bhs[1] & ~PduFlags.FunctionMask) | (value & PduFlags.FunctionMask));
    }

    /// <summary>Time2Wait (bytes 40-41) of a Logout response.</summary>
    public ushort Time2Wait { get => U16(40); set => SetU16(40, value); }

    /// <summary>Time2Retain (bytes 42-43) of a Logout response.</summary>
    public ushort Time2Retain { get => U16(42); set => SetU16(42, value); }
}
