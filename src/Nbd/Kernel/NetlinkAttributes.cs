using System.Buffers.Binary;
using System.Text;

namespace IscsiUp.Nbd.Kernel;

/// <summary>Reads a run of netlink attributes (type with the nested/byte-order flags masked off) into a lookup.</summary>
public sealed class NetlinkAttributes
{
    private readonly Dictionary<ushort, byte[]> _values = new();

    public NetlinkAttributes(ReadOnlySpan<byte> data)
    {
        while (data.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(data);
            ushort type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(data[2..]) & 0x3FFF);
            if (length < 4 || length > data.Length) break;
            _values[type] = data[4..length].ToArray();
            int aligned = (length + 3) & ~3;
            data = aligned >= data.Length ? [] : data[aligned..];
        }
    }

    public bool Has(ushort type) => _values.ContainsKey(type);
    public byte[]? Raw(ushort type) => _values.GetValueOrDefault(type);
    public uint? U32(ushort type) => _values.TryGetValue(type, out var v) && v.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(v) : null;
    public ushort? U16(ushort type) => _values.TryGetValue(type, out var v) && v.Length >= 2 ? BinaryPrimitives.ReadUInt16LittleEndian(v) : null;
    public string? String(ushort type) => _values.TryGetValue(type, out var v) ? Encoding.UTF8.GetString(v).TrimEnd('\0') : null;
}
