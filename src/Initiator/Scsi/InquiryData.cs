using IscsiUp.Io;
using System.Text;

namespace IscsiUp.Initiator.Scsi;

/// <summary>The parts of standard INQUIRY data (SPC-4 6.6.2) an administrator recognises a disk by.</summary>
public sealed record InquiryData(byte PeripheralQualifier, byte DeviceType, string Vendor, string Product, string Revision)
{
    public const byte DirectAccessBlockDevice = 0x00;

    public static InquiryData Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 36) throw new IOException($"INQUIRY returned {data.Length} bytes, fewer than the 36 of standard data");
        return new InquiryData((byte)(data[0] >> 5), (byte)(data[0] & 0x1F), Ascii(data[8..16]), Ascii(data[16..32]), Ascii(data[32..36]));
    }

    /// <summary>T10 strings are printable ASCII; anything else the device sent is shown escaped.</summary>
    internal static string Ascii(ReadOnlySpan<byte> bytes) => PeerText.Escape(Encoding.ASCII.GetString(bytes).TrimEnd(' ', '\0'));

    public string DeviceTypeName => DeviceType switch
    {
        0x00 => "disk", 0x01 => "tape", 0x05 => "cd/dvd", 0x0C => "storage array controller", 0x0D => "enclosure",
        0x1F => "unknown", _ => $"type 0x{DeviceType:x2}",
    };
}
