using System.Buffers.Binary;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>The fields of a Reject (RFC 7143 section 11.17); its data segment quotes the rejected header.</summary>
public sealed partial class Pdu
{
    /// <summary>The reason code (byte 2).</summary>
    public byte RejectReason { get => Bhs[2]; set => Bhs[2] = value; }

    /// <summary>The opcode of the header a Reject quotes (at least <see cref="BhsLength"/> bytes).</summary>
    public static Opcode QuotedOpcode(ReadOnlySpan<byte> header) => (Opcode)(header[0] & 0x3F);

    /// <summary>The Initiator Task Tag of the header a Reject quotes.</summary>
    public static uint QuotedInitiatorTaskTag(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
}
