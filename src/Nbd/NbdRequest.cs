using System.Buffers.Binary;

namespace IscsiUp.Nbd;

/// <summary>A transmission-phase request header (28 bytes on the wire; WRITE payload follows separately).</summary>
public readonly record struct NbdRequest(ushort Flags, ushort Type, ulong Cookie, ulong Offset, uint Length)
{
    /// <summary>Parses a request header; returns false when the magic is wrong (the stream is then out of sync).</summary>
    public static bool TryParse(ReadOnlySpan<byte> header, out NbdRequest request)
    {
        if (header.Length < NbdConstants.RequestHeaderLength)
            throw new ArgumentException("request header is 28 bytes", nameof(header));
        if (BinaryPrimitives.ReadUInt32BigEndian(header) != NbdConstants.RequestMagic)
        {
            request = default;
            return false;
        }
        request = new NbdRequest(
            BinaryPrimitives.ReadUInt16BigEndian(header[4..]),
            BinaryPrimitives.ReadUInt16BigEndian(header[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(header[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(header[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(header[24..]));
        return true;
    }

    /// <summary>Writes this request as a 28-byte header (used by tests and tools that act as clients).</summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdConstants.RequestMagic);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], Flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], Type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], Offset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], Length);
    }

    /// <summary>Name of the command for log lines.</summary>
    public string CommandName => NameOf(Type);

    public static string NameOf(ushort type) => type switch
    {
        NbdConstants.CmdRead => "READ",
        NbdConstants.CmdWrite => "WRITE",
        NbdConstants.CmdDisc => "DISC",
        NbdConstants.CmdFlush => "FLUSH",
        NbdConstants.CmdTrim => "TRIM",
        NbdConstants.CmdCache => "CACHE",
        NbdConstants.CmdWriteZeroes => "WRITE_ZEROES",
        NbdConstants.CmdBlockStatus => "BLOCK_STATUS",
        _ => $"CMD_{type}",
    };
}
