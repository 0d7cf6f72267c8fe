using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// Names that identify a logical unit in INQUIRY data: vendor/product strings, a unit serial number and an
/// NAA identifier. Derived from the target name and LUN so they stay the same across restarts (udev's
/// /dev/disk/by-id links and multipath rely on that).
/// </summary>
public sealed record DeviceIdentity(string Vendor, string Product, string Revision, string SerialNumber, ulong NaaIdentifier, string TargetName)
{
    public const string DefaultVendor = "ISCSIUP";
    public const string DefaultProduct = "RAID5 TESTDISK";

    public static DeviceIdentity For(string targetName, int lun)
    {
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{targetName}\0{lun}"));
        string serial = Convert.ToHexStringLower(hash.AsSpan(0, 8));
        // NAA 3 = locally assigned: a 60-bit value that only has to be unique within this target's world.
        ulong naa = (0x3UL << 60) | (BinaryPrimitives.ReadUInt64BigEndian(hash.AsSpan(8)) & 0x0FFF_FFFF_FFFF_FFFFUL);
        return new DeviceIdentity(DefaultVendor, DefaultProduct, "0001", serial, naa, targetName);
    }
}
