using System.Buffers;
using System.Globalization;
using System.Text;

namespace IscsiUp.Io;

/// <summary>
/// Text that came from a peer (a target's keys, INQUIRY strings, an NBD client's export name) before it goes into
/// a message, a log line or our output. Control characters would let a peer forge lines (a newline), rewrite
/// the terminal (ESC sequences) or reorder what the reader sees (bidirectional overrides), so they are shown as
/// escapes instead: \n, \x1b, \u202e, and a backslash as \\.
/// </summary>
public static class PeerText
{
    /// <summary>True when <paramref name="text"/> shows as itself: no control, format or line-separator
    /// characters, no lone surrogate.</summary>
    public static bool IsPrintable(string text)
    {
        for (int i = 0; i < text.Length;)
        {
            if (!TryNext(text, i, out var rune, out int used) || !IsPrintable(rune))
                return false;
            i += used;
        }
        return true;
    }

    /// <summary><paramref name="text"/> with every non-printable character (and the backslash) escaped, cut to
    /// <paramref name="maxLength"/> characters with "..." after.</summary>
    public static string Escape(string text, int maxLength = 256)
    {
        bool cut = text.Length > maxLength;
        if (cut)
            text = text[..maxLength];
        if (IsPrintable(text) && !text.Contains('\\'))
            return cut ? text + "..." : text;
        var escaped = new StringBuilder(text.Length + 16);
        for (int i = 0; i < text.Length;)
        {
            if (!TryNext(text, i, out var rune, out int used))
            {
                escaped.Append(CultureInfo.InvariantCulture, $@"\u{(int)text[i]:x4}"); // a lone surrogate
                i++;
                continue;
            }
            i += used;
            if (rune.Value == '\\')
                escaped.Append(@"\\");
            else if (IsPrintable(rune))
                escaped.Append(text, i - used, used);
            else if (rune.Value == '\n')
                escaped.Append(@"\n");
            else if (rune.Value == '\r')
                escaped.Append(@"\r");
            else if (rune.Value == '\t')
                escaped.Append(@"\t");
            else if (rune.Value <= 0xFF)
                escaped.Append(CultureInfo.InvariantCulture, $@"\x{rune.Value:x2}");
            else
                escaped.Append(CultureInfo.InvariantCulture, $@"\u{rune.Value:x4}");
        }
        return cut ? escaped.Append("...").ToString() : escaped.ToString();
    }

    private static bool TryNext(string text, int index, out Rune rune, out int used) =>
        Rune.DecodeFromUtf16(text.AsSpan(index), out rune, out used) == OperationStatus.Done;

    private static bool IsPrintable(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is not (UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
}
