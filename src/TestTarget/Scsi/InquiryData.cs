using System.Buffers.Binary;
using System.Text;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// Standard INQUIRY data and the vital product data pages (SPC-4 section 6.6 and 7.8, SBC-3 section 6.5) of a
/// direct-access block device.
/// </summary>
public static class InquiryData
{
    public const byte DirectAccessDevice = 0x00;
    /// <summary>Peripheral qualifier 011b + device type 0x1F: no logical unit at this LUN.</summary>
    public const byte NoLogicalUnit = 0x7F;

    public const byte SupportedPagesPage = 0x00;
    public const byte UnitSerialNumberPage = 0x80;
    public const byte DeviceIdentificationPage = 0x83;
    public const byte BlockLimitsPage = 0xB0;
    public const byte BlockDeviceCharacteristicsPage = 0xB1;
    public const byte LogicalBlockProvisioningPage = 0xB2;

    private static readonly byte[] SupportedPages =
    [
        SupportedPagesPage, UnitSerialNumberPage, DeviceIdentificationPage,
        BlockLimitsPage, BlockDeviceCharacteristicsPage, LogicalBlockProvisioningPage,
    ];

    /// <summary>96 bytes of standard data: SPC-4, HiSup, CmdQue, version descriptors for SAM-5, iSCSI, SPC-4, SBC-3.</summary>
    public static byte[] Standard(DeviceIdentity identity, byte peripheral = DirectAccessDevice)
    {
        var data = new byte[96];
        data[0] = peripheral;
        data[2] = 0x06; // VERSION: SPC-4
        data[3] = 0x12; // HISUP, RESPONSE DATA FORMAT 2
        data[4] = (byte)(data.Length - 5);
        data[7] = 0x02; // CMDQUE: tagged commands
        Ascii(data.AsSpan(8, 8), identity.Vendor);
        Ascii(data.AsSpan(16, 16), identity.Product);
        Ascii(data.AsSpan(32, 4), identity.Revision);
        ushort[] versions = [0x00A0 /* SAM-5 */, 0x0960 /* iSCSI */, 0x0460 /* SPC-4 */, 0x04C0 /* SBC-3 */];
        for (int i = 0; i < versions.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(58 + 2 * i), versions[i]);
        return data;
    }

    /// <summary>The VPD page <paramref name="page"/>, or null when it is not supported.</summary>
    public static byte[]? Vpd(byte page, DeviceIdentity identity, BlockLimits limits) => page switch
    {
        SupportedPagesPage => Page(page, SupportedPages),
        UnitSerialNumberPage => Page(page, Encoding.ASCII.GetBytes(identity.SerialNumber)),
        DeviceIdentificationPage => Page(page, Designators(identity)),
        BlockLimitsPage => Page(page, BlockLimitsBody(limits)),
        BlockDeviceCharacteristicsPage => Page(page, BlockDeviceCharacteristicsBody()),
        LogicalBlockProvisioningPage => Page(page, [0x00, 0x80 | 0x40 | 0x20 | 0x04, 0x01, 0x00]),
        _ => null,
    };

    private static byte[] Page(byte page, ReadOnlySpan<byte> body)
    {
        var data = new byte[4 + body.Length];
        data[0] = DirectAccessDevice;
        data[1] = page;
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(2), (ushort)body.Length);
        body.CopyTo(data.AsSpan(4));
        return data;
    }

    private static byte[] Designators(DeviceIdentity identity)
    {
        var body = new List<byte>();
        Span<byte> naa = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(naa, identity.NaaIdentifier);
        // Code set binary, logical unit association, NAA.
        Designator(body, 0x01, 0x03, naa);
        // ASCII, logical unit, T10 vendor ID: vendor (8 chars) then a unique vendor-specific part.
        Designator(body, 0x02, 0x01, Encoding.ASCII.GetBytes(identity.Vendor.PadRight(8)[..8] + identity.SerialNumber));
        // iSCSI protocol, PIV, target port association: relative target port 1.
        Designator(body, 0x51, 0x94, [0, 0, 0, 1]);
        // iSCSI, UTF-8, PIV, target port: SCSI name string "name,t,0x0001" (NUL-padded to a multiple of 4).
        Designator(body, 0x53, 0x98, NameString($"{identity.TargetName},t,0x0001"));
        // iSCSI, UTF-8, PIV, target device: the target name.
        Designator(body, 0x53, 0xA8, NameString(identity.TargetName));
        return body.ToArray();
    }

    private static void Designator(List<byte> body, byte codeSet, byte typeAndAssociation, ReadOnlySpan<byte> value)
    {
        body.Add(codeSet);
        body.Add(typeAndAssociation);
        body.Add(0);
        body.Add((byte)value.Length);
        body.AddRange(value);
    }

    private static byte[] NameString(string name)
    {
        int length = Encoding.UTF8.GetByteCount(name) + 1; // at least one NUL terminator
        var bytes = new byte[(length + 3) & ~3];
        Encoding.UTF8.GetBytes(name, bytes);
        return bytes;
    }

    private static byte[] BlockLimitsBody(BlockLimits limits)
    {
        var body = new byte[0x3C];
        body[0] = 0x01; // WSNZ: WRITE SAME with 0 blocks is refused rather than meaning "to the end"
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(2), limits.OptimalTransferGranularity);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4), limits.MaxTransferBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(8), limits.OptimalTransferBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(16), limits.MaxUnmapBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(20), limits.MaxUnmapDescriptors);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(24), limits.OptimalUnmapGranularity);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(28), 0x8000_0000); // UGAVALID, alignment 0
        BinaryPrimitives.WriteUInt64BigEndian(body.AsSpan(32), limits.MaxWriteSameBlocks);
        return body;
    }

    private static byte[] BlockDeviceCharacteristicsBody()
    {
        var body = new byte[0x3C];
        BinaryPrimitives.WriteUInt16BigEndian(body, 1); // MEDIUM ROTATION RATE: non-rotating
        return body;
    }

    private static void Ascii(Span<byte> field, string text)
    {
        field.Fill((byte)' ');
        Encoding.ASCII.GetBytes(text.AsSpan(0, Math.Min(text.Length, field.Length)), field);
    }
}
