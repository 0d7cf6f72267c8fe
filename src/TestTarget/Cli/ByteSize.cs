using System.Globalization;

namespace IscsiUp.TestTarget.Cli;

/// <summary>Sizes on the command line: a byte count with an optional binary suffix (K, M, G, T; "KiB"/"KB" also read as 1024-based).</summary>
public static class ByteSize
{
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        string s = text.Trim();
        if (s.EndsWith("iB", StringComparison.OrdinalIgnoreCase)) s = s[..^2];
        else if (s.Length > 1 && char.IsLetter(s[^2]) && (s[^1] is 'B' or 'b')) s = s[..^1];
        if (s.Length == 0) return false;
        int shift = char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        if (shift > 0) s = s[..^1];
        if (!decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value)) return false;
        decimal total = value * (1L << shift);
        if (total < 1 || total > long.MaxValue / 2 || total != decimal.Truncate(total)) return false;
        bytes = (long)total;
        return true;
    }

    /// <summary>"1.0 GiB", "32.0 MiB", "512 bytes".</summary>
    public static string Format(long bytes)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        if (bytes < 1024) return bytes.ToString(CultureInfo.InvariantCulture) + " bytes";
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
