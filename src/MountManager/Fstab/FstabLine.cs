namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// One line of the file exactly as it was read: its text and its own terminator ("\n", "\r\n", or ""
/// for a last line without newline). Comments, blank lines and lines that are not entries are kept as they are.
/// </summary>
public sealed class FstabLine
{
    private FstabLine(string textBytes, string terminator, FstabEntry? entry)
    {
        TextBytes = textBytes;
        Terminator = terminator;
        Entry = entry;
    }

    /// <summary>The line without its terminator.</summary>
    public string Text => FstabText.ToDisplay(TextBytes);

    public string Terminator { get; }

    /// <summary>The parsed entry, or null for a comment, a blank line or a line with a single field.</summary>
    public FstabEntry? Entry { get; }

    public bool IsComment => TextBytes.TrimStart(' ', '\t').StartsWith('#');

    public bool IsBlank => TextBytes.Trim(' ', '\t', '\r').Length == 0;

    internal string TextBytes { get; }

    internal FstabLine WithTerminator(string terminator) => new(TextBytes, terminator, Entry);

    internal static FstabLine Parse(string textBytes, string terminator)
    {
        var trimmed = textBytes.TrimStart(' ', '\t');
        if (trimmed.Length == 0 || trimmed[0] == '#') return new FstabLine(textBytes, terminator, null);
        var fields = textBytes.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
        return new FstabLine(textBytes, terminator, fields.Length >= 2 ? new FstabEntry(fields) : null);
    }

    public override string ToString() => Text;
}
