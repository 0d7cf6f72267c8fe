using System.Buffers.Binary;
using System.Text;

namespace IscsiUp.Nbd.Kernel;

/// <summary>
/// Builds one generic netlink request: nlmsghdr (16 bytes), genlmsghdr (4 bytes), then attributes
/// (nlattr: u16 length, u16 type, payload padded to 4 bytes). Nested attributes carry NLA_F_NESTED.
/// </summary>
public sealed class NetlinkMessage
{
    public const ushort FlagRequest = 0x1, FlagAck = 0x4;
    private const ushort NestedFlag = 0x8000;
    private readonly MemoryStream _buffer = new();
    private readonly Stack<long> _nests = new();

    public NetlinkMessage(ushort family, byte command, byte version, uint sequence, ushort flags = FlagRequest | FlagAck)
    {
        Span<byte> header = stackalloc byte[20];
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], family);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], sequence);
        header[16] = command;
        header[17] = version;
        _buffer.Write(header);
    }

    public NetlinkMessage U32(ushort type, uint value)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, value);
        return Attribute(type, payload);
    }

    public NetlinkMessage U64(ushort type, ulong value)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, value);
        return Attribute(type, payload);
    }

    public NetlinkMessage String(ushort type, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value + "\0");
        return Attribute(type, bytes);
    }

    public NetlinkMessage Attribute(ushort type, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(4 + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], type);
        _buffer.Write(header);
        _buffer.Write(payload);
        Pad();
        return this;
    }

    public NetlinkMessage BeginNested(ushort type)
    {
        _nests.Push(_buffer.Position);
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)(type | NestedFlag));
        _buffer.Write(header);
        return this;
    }

    public NetlinkMessage EndNested()
    {
        long start = _nests.Pop();
        long end = _buffer.Position;
        var bytes = _buffer.GetBuffer();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan((int)start), (ushort)(end - start));
        return this;
    }

    private void Pad()
    {
        while (_buffer.Position % 4 != 0) _buffer.WriteByte(0);
    }

    public byte[] ToArray()
    {
        var bytes = _buffer.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)bytes.Length);
        return bytes;
    }
}
