using System.Text;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// fstab is bytes, not text: paths may be in any encoding. The parser works on "byte strings" (Latin-1,
/// one char per byte) so every byte survives a round trip; names coming from .NET are UTF-8 encoded
/// into that form, and byte strings are UTF-8 decoded only for display.
/// </summary>
internal static class FstabText
{
    public static string FromBytes(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    public static byte[] ToBytes(string byteString) => Encoding.Latin1.GetBytes(byteString);

    /// <summary>A .NET string as the bytes it has on disk (UTF-8).</summary>
    public static string FromString(string value) => FromBytes(Encoding.UTF8.GetBytes(value));

    /// <summary>A byte string for messages and properties.</summary>
    public static string ToDisplay(string byteString) => Encoding.UTF8.GetString(ToBytes(byteString));

    public static bool IsBlank(char c) => c is ' ' or '\t';
}
