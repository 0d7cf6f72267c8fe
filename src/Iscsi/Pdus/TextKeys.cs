using IscsiUp.Io;
using System.Text;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// iSCSI text parameters: "key=value" pairs, each ended by a NUL (RFC 7143 section 6), kept in order.
/// Keys may repeat (TargetName/TargetAddress in SendTargets answers), so this is a list, not a dictionary.
/// </summary>
public sealed class TextKeys : List<KeyValuePair<string, string>>
{
    public const int MaxKeyLength = 63;

    public TextKeys() { }
    public TextKeys(IEnumerable<KeyValuePair<string, string>> pairs) : base(pairs) { }

    public void Add(string key, string value) => Add(new KeyValuePair<string, string>(key, value));

    /// <summary>The first value of <paramref name="key"/>, or null.</summary>
    public string? this[string key]
    {
        get
        {
            foreach (var pair in this)
                if (pair.Key == key) return pair.Value;
            return null;
        }
    }

    public bool Contains(string key) => this[key] is not null;

    public byte[] Encode()
    {
        var builder = new StringBuilder();
        foreach (var (key, value) in this) builder.Append(key).Append('=').Append(value).Append('\0');
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <summary>Parses a complete text (all Continue PDUs joined). Throws <see cref="ProtocolException"/> on malformed text.</summary>
    public static TextKeys Parse(ReadOnlySpan<byte> text)
    {
        var keys = new TextKeys();
        while (!text.IsEmpty)
        {
            int end = text.IndexOf((byte)0);
            if (end < 0) throw new ProtocolException("text parameter is not NUL-terminated");
            ReadOnlySpan<byte> item = text[..end];
            text = text[(end + 1)..];
            if (item.IsEmpty) continue; // tolerate padding NULs
            int eq = item.IndexOf((byte)'=');
            if (eq <= 0) throw new ProtocolException($"malformed text parameter \"{Printable(item)}\" (no key=value)");
            if (eq > MaxKeyLength) throw new ProtocolException($"text key longer than {MaxKeyLength} characters");
            foreach (byte c in item[..eq])
                if (!IsKeyCharacter(c)) throw new ProtocolException($"text key \"{Printable(item[..eq])}\" has a character keys may not contain");
            string key = Encoding.ASCII.GetString(item[..eq]);
            string value;
            try { value = StrictUtf8.GetString(item[(eq + 1)..]); }
            catch (DecoderFallbackException) { throw new ProtocolException($"the value of text key {key} is not valid UTF-8"); }
            // RFC 7143 6.1 allows no control characters in any value; one that has them could forge our output.
            if (!PeerText.IsPrintable(value))
                throw new ProtocolException($"the value of text key {key} contains control characters: \"{PeerText.Escape(value)}\"");
            keys.Add(key, value);
        }
        return keys;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>RFC 7143 section 6.1: key names use letters, digits and . - + @ _ only.</summary>
    private static bool IsKeyCharacter(byte c) =>
        c is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'-' or (byte)'+' or (byte)'@' or (byte)'_';

    private static string Printable(ReadOnlySpan<byte> bytes) => PeerText.Escape(Encoding.UTF8.GetString(bytes[..Math.Min(bytes.Length, 64)]));

    public override string ToString() => string.Join(" ", this.Select(p => $"{p.Key}={p.Value}"));
}
