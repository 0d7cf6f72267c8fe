using System.Globalization;

namespace IscsiUp.Iscsi.Login;

/// <summary>The special answers and value syntax of iSCSI text keys (RFC 7143 sections 5.1 and 6.2).</summary>
public static class KeyValues
{
    public const string Reject = "Reject";
    public const string Irrelevant = "Irrelevant";
    public const string NotUnderstood = "NotUnderstood";
    public const string Yes = "Yes";
    public const string No = "No";
    /// <summary>The digest value (HeaderDigest, DataDigest) that turns CRC32C on; "None" leaves it off.</summary>
    public const string Crc32c = "CRC32C";

    public static bool IsSpecial(string value) => value is Reject or Irrelevant or NotUnderstood;

    /// <summary>Parses a numerical value: decimal, or hexadecimal with a 0x prefix.</summary>
    public static bool TryParseNumber(string text, out long value)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value) && value >= 0;
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>A settled numerical value as an int; throws <see cref="FormatException"/> for anything else.</summary>
    public static int ParseInt(string text) =>
        TryParseNumber(text, out long n) && n <= int.MaxValue ? (int)n : throw new FormatException($"not a number: {text}");

    public static bool TryParseBoolean(string text, out bool value)
    {
        value = text == Yes;
        return text is Yes or No;
    }

    public static string Format(bool value) => value ? Yes : No;
    public static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
