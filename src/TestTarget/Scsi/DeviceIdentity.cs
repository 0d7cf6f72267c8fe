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

    /// <param name="generation">How many logical units had this LUN before in this run (0 for the first): a LUN
    /// removed and added again is a new device with new names, as on a real array.</param>
    public static DeviceIdentity For(string targetName, int lun, int generation = 0)
    {
        string seed = generation == 0 ? $"{targetName}\0{lun}" : $"{targetName}\0{lun}\0{generation}";
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(seed));
        string serial = Convert.ToHexStringLower(hash.AsSpan(0, 8));
        // NAA 3 = locally assigned: a 60-bit value that only has to be unique within this target's world.
        ulong naa = (0x3UL << 60) | (BinaryPrimitives.ReadUInt64BigEndian(hash.AsSpan(8)) & 0x0FFF_FFFF_FFFF_FFFFUL);
        return new DeviceIdentity(DefaultVendor, DefaultProduct, "0001", serial, naa, targetName);
    }
}
