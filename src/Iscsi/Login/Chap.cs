using System.Globalization;
using System.Security.Cryptography;

namespace IscsiUp.Iscsi.Login;

/// <summary>
/// CHAP as iSCSI uses it (RFC 7143 section 12.1.3, RFC 1994): response = H(identifier || secret || challenge).
/// Algorithm numbers are the CHAP_A values: 5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256.
/// </summary>
public static class Chap
{
    public const int Md5 = 5, Sha1 = 6, Sha256 = 7, Sha3_256 = 8;

    /// <summary>Algorithms we offer, strongest first (MD5 last, and absent where FIPS forbids it).</summary>
    public static IReadOnlyList<int> Preferred { get; } = new[] { Sha3_256, Sha256, Sha1, Md5 }.Where(IsSupported).ToArray();

    public static bool IsSupported(int algorithm) => algorithm switch
    {
        Md5 => IsMd5Allowed(),
        Sha1 or Sha256 => true,
        Sha3_256 => SHA3_256.IsSupported,
        _ => false,
    };

    private static bool IsMd5Allowed()
    {
        try { MD5.HashData(ReadOnlySpan<byte>.Empty); return true; }
        catch (CryptographicException) { return false; } // FIPS mode
        catch (PlatformNotSupportedException) { return false; }
    }

    public static string Name(int algorithm) => algorithm switch
    {
        Md5 => "MD5", Sha1 => "SHA-1", Sha256 => "SHA-256", Sha3_256 => "SHA3-256", _ => $"#{algorithm}",
    };

    public static int DigestLength(int algorithm) => algorithm switch
    {
        Md5 => 16, Sha1 => 20, _ => 32,
    };

    public static byte[] Response(int algorithm, byte identifier, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> challenge)
    {
        var input = new byte[1 + secret.Length + challenge.Length];
        input[0] = identifier;
        secret.CopyTo(input.AsSpan(1));
        challenge.CopyTo(input.AsSpan(1 + secret.Length));
        try
        {
            return algorithm switch
            {
                Md5 => MD5.HashData(input),
                Sha1 => SHA1.HashData(input),
                Sha256 => SHA256.HashData(input),
                Sha3_256 => SHA3_256.HashData(input),
                _ => throw new LoginException($"CHAP algorithm {algorithm} is not supported"),
            };
        }
        finally { CryptographicOperations.ZeroMemory(input); }
    }

    /// <summary>A random challenge as long as the algorithm's digest (at least 16 bytes).</summary>
    public static byte[] NewChallenge(int algorithm) => RandomNumberGenerator.GetBytes(Math.Max(16, DigestLength(algorithm)));

    /// <summary>Encodes binary values the way iSCSI writes them: 0x followed by hex digits.</summary>
    public static string Encode(ReadOnlySpan<byte> value) => "0x" + Convert.ToHexStringLower(value);

    /// <summary>Decodes a binary value: hex (0x...) or base64 (0b...).</summary>
    public static byte[] Decode(string text)
    {
        try
        {
            if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            {
                var hex = text[2..];
                if (hex.Length % 2 == 1) hex = "0" + hex;
                return Convert.FromHexString(hex);
            }
            if (text.StartsWith("0b", StringComparison.OrdinalIgnoreCase)) return Convert.FromBase64String(text[2..]);
        }
        catch (FormatException) { }
        throw new LoginException($"malformed CHAP value \"{(text.Length > 20 ? text[..20] + "..." : text)}\"");
    }

    public static bool TryParseIdentifier(string text, out byte identifier)
    {
        identifier = 0;
        return KeyValues.TryParseNumber(text, out long value) && value <= 255 && (identifier = (byte)value) == value;
    }

    public static string FormatIdentifier(byte identifier) => identifier.ToString(CultureInfo.InvariantCulture);
}
