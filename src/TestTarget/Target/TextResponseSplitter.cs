namespace IscsiUp.TestTarget.Target;

/// <summary>
/// A text answer too long for one PDU, handed out in pieces of at most the initiator's
/// MaxRecvDataSegmentLength (RFC 7143 section 11.11: C bit set and a Target Transfer Tag while more follows).
/// </summary>
public sealed class TextResponseSplitter(byte[] text, int maxSegment)
{
    private int _offset;

    public bool HasMore => _offset < text.Length;

    /// <summary>The next piece and whether more pieces follow it.</summary>
    public (ReadOnlyMemory<byte> Piece, bool More) Next()
    {
        int length = Math.Min(maxSegment, text.Length - _offset);
        var piece = text.AsMemory(_offset, length);
        _offset += length;
        return (piece, _offset < text.Length);
    }
}
