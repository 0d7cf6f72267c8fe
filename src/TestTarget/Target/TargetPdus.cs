using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// Builders for the PDUs a target sends (RFC 7143 section 11). StatSN, ExpCmdSN and MaxCmdSN are filled in by
/// <see cref="PduSendQueue"/> when the PDU goes on the wire, so they are always current and in order.
/// </summary>
public static class TargetPdus
{
    public static Pdu DataIn(uint itt, ulong lun, uint dataSN, uint offset, ReadOnlyMemory<byte> data, bool final)
    {
        var pdu = new Pdu(Opcode.DataIn, final: final);
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = itt;
        pdu.TargetTransferTag = Pdu.ReservedTag;
        pdu.DataSN = dataSN;
        pdu.BufferOffset = offset;
        pdu.SetData(data);
        return pdu;
    }

    /// <summary>Adds status (S bit) and the residual to the last Data-In of a command that ends without sense data.</summary>
    public static void AddStatus(Pdu dataIn, byte status, Residual residual)
    {
        dataIn.Final = true;
        dataIn.HasStatus = true;
        dataIn.Status = status;
        residual.WriteTo(dataIn);
    }

    public static Pdu ScsiResponse(uint itt, byte status, ReadOnlySpan<byte> sense, Residual residual, uint expDataSN)
    {
        var pdu = new Pdu(Opcode.ScsiResponse);
        residual.WriteTo(pdu);
        pdu.Response = 0x00; // command completed at target
        pdu.Status = status;
        pdu.InitiatorTaskTag = itt;
        pdu.ExpDataSN = expDataSN;
        if (!sense.IsEmpty)
        {
            // The data segment is SenseLength (2 bytes) followed by the sense data.
            var data = new byte[2 + sense.Length];
            data[0] = (byte)(sense.Length >> 8);
            data[1] = (byte)sense.Length;
            sense.CopyTo(data.AsSpan(2));
            pdu.SetData(data);
        }
        return pdu;
    }

    public static Pdu ReadyToTransfer(uint itt, ulong lun, uint ttt, uint r2tSN, uint offset, uint length)
    {
        var pdu = new Pdu(Opcode.ReadyToTransfer);
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = itt;
        pdu.TargetTransferTag = ttt;
        pdu.R2TSN = r2tSN;
        pdu.BufferOffset = offset;
        pdu.DesiredDataTransferLength = length;
        return pdu;
    }

    public static Pdu NopIn(uint itt, uint ttt, ulong lun, ReadOnlyMemory<byte> data)
    {
        var pdu = new Pdu(Opcode.NopIn);
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = itt;
        pdu.TargetTransferTag = ttt;
        pdu.SetData(data);
        return pdu;
    }

    public static Pdu TaskManagementResponse(uint itt, byte response)
    {
        var pdu = new Pdu(Opcode.TaskManagementResponse);
        pdu.Response = response;
        pdu.InitiatorTaskTag = itt;
        return pdu;
    }

    public static Pdu TextResponse(uint itt, uint ttt, ulong lun, ReadOnlyMemory<byte> data, bool final, bool more)
    {
        var pdu = new Pdu(Opcode.TextResponse, final: final);
        pdu.Continue = more;
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = itt;
        pdu.TargetTransferTag = ttt;
        pdu.SetData(data);
        return pdu;
    }

    public static Pdu LogoutResponse(uint itt, byte response)
    {
        var pdu = new Pdu(Opcode.LogoutResponse);
        pdu.Response = response;
        pdu.InitiatorTaskTag = itt;
        return pdu; // Time2Wait and Time2Retain stay 0: no connection recovery at ErrorRecoveryLevel 0
    }

    /// <summary>A Reject carrying the offending header as its data (section 11.17).</summary>
    public static Pdu Reject(byte reason, ReadOnlySpan<byte> rejectedHeader)
    {
        var pdu = new Pdu(Opcode.Reject);
        pdu.RejectReason = reason;
        pdu.InitiatorTaskTag = Pdu.ReservedTag;
        pdu.SetData(rejectedHeader[..Pdu.BhsLength].ToArray());
        return pdu;
    }
}
