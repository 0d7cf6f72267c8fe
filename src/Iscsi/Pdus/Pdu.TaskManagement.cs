namespace IscsiUp.Iscsi.Pdus;

/// <summary>The fields of Task Management Function requests (RFC 7143 section 11.5.1).</summary>
public sealed partial class Pdu
{
    /// <summary>The function (<see cref="TaskManagement"/>), below the F bit, which the request always sets.</summary>
    public byte TaskManagementFunction
    {
        get => (byte)(Bhs[1] & PduFlags.FunctionMask);
        set => Bhs[1] = (byte)((Bhs[1] & ~PduFlags.FunctionMask) | (value & PduFlags.FunctionMask));
    }

    /// <summary>Referenced Task Tag (bytes 20-23): the ITT of the task to abort.</summary>
    public uint ReferencedTaskTag { get => U32(20); set => SetU32(20, value); }

    /// <summary>RefCmdSN (bytes 32-35): the CmdSN of the task to abort.</summary>
    public uint RefCmdSN { get => U32(32); set => SetU32(32, value); }
}
