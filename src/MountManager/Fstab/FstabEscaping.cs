using System.Text;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// The octal escapes of fstab fields (<c>\040</c> for a space, <c>\011</c> tab, <c>\012</c> newline,
/// <c>\134</c> backslash), as libmount reads and writes them.
/// </summary>
public static class FstabEscaping
{
    /// <summary>Decodes every <c>\ooo</c> sequence; other backslashes are kept literally.</summary>
    public static string Decode(string field)
    {
        if (!field.Contains('\\')) return field;
        var result = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                result.Append((char)(((field[i + 1] - '0') << 6 | (field[i + 2] - '0') << 3 | (field[i + 3] - '0')) & 0xFF));
                i += 3;
            }
            else
            {
                result.Append(field[i]);
            }
        }
        return result.ToString();
    }

    /// <summary>Escapes the characters that would split or corrupt a field.</summary>
    public static string Encode(string value)
    {
        var result = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            if (c is ' ' or '\t' or '\n' or '\r' or '\\')
                result.Append('\\').Append(Convert.ToString(c, 8).PadLeft(3, '0'));
            else
                result.Append(c);
        }
        return result.ToString();
    }

    private static bool IsOctal(string text, int start)
    {
        if (start + 3 > text.Length) return false;
        for (var i = start; i < start + 3; i++)
        {
            if (text[i] is < '0' or > '7') return false;
        }
        return text[start] <= '3';
    }
}
