using IscsiUp.Initiator.Scsi;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// The stable names open-iscsi users know, given to our kernel devices through udev:
/// /dev/disk/by-path/ip-ADDR:PORT-iscsi-IQN-lun-N, /dev/disk/by-id/wwn-0x... and scsi-... (and -partN for
/// partitions). The package's rule (packaging/udev/59-iscsi-up.rules) runs `iscsi-up udev-id nbdX` for every nbd
/// device whose backend is ours; the properties printed here (the same ID_* names and values udev's path_id and
/// scsi_id give /dev/sdX) then make systemd's 60-persistent-storage.rules create the links, and the rule adds the
/// scsi-... link that rule keeps for sd devices.
/// </summary>
public static class UdevNames
{
    /// <summary>
    /// The udev properties of the device of <paramref name="lun"/>, one of the session's LUNs: KEY=value lines for
    /// IMPORT{program}. Each LUN's device has its own LUN number in by-path and its own VPD 0x83 name.
    /// </summary>
    public static IReadOnlyList<string> Properties(SessionRecord record, LunRecord lun)
    {
        var lines = new List<string>
        {
            $"ISCSI_UP_SESSION={record.Id}",
            $"ISCSI_UP_TARGET={record.Target}",
            $"ISCSI_UP_LUN={lun.Lun}",
            // path_id writes the portal address without IPv6's brackets: ip-::1:3260-iscsi-...
            $"ID_PATH=ip-{record.Portal.Replace("[", "").Replace("]", "")}-iscsi-{record.Target}-lun-{lun.Lun}",
        };
        if (LunIdentifier.FromString(lun.Identifier) is { } id)
        {
            lines.Add($"ID_SERIAL={id.ScsiSerial}");
            lines.Add($"ID_SERIAL_SHORT={id.Hex}");
            if (id.Wwn is { } wwn)
            {
                // scsi_id: ID_WWN is the first 8 bytes, the NAA 6 vendor extension follows in ID_WWN_WITH_EXTENSION.
                lines.Add($"ID_WWN={wwn[..Math.Min(wwn.Length, 18)]}");
                lines.Add($"ID_WWN_WITH_EXTENSION={wwn}");
            }
        }
        return lines;
    }

    /// <summary>
    /// The session record of kernel device <paramref name="name"/> (nbd0, or a partition of it such as nbd0p1) and
    /// the record's LUN on that device, when the device is connected to that LUN; null for anyone else's nbd device.
    /// </summary>
    public static (SessionRecord Session, LunRecord Lun)? RecordOf(string name, Nbd.Kernel.KernelNbdSysfs sysfs)
    {
        if (name.Length < 4) return null;
        int p = name.IndexOf('p', 3);
        string disk = p > 0 ? name[..p] : name;
        if (!disk.StartsWith("nbd", StringComparison.Ordinal) || !int.TryParse(disk.AsSpan(3), out int index)) return null;
        foreach (var record in SessionRecord.LoadAll(sysfs))
            foreach (var lun in record.Luns)
                if (lun.Device == $"/dev/{disk}")
                    return sysfs.Backend(index) == SessionAdoption.BackendId(record.Target, lun.Lun) ? (record, lun) : null;
        return null;
    }

    /// <summary>Asks udev to look at the device and its partitions again (a "change" uevent), now that the record exists.</summary>
    public static void Announce(string device)
    {
        string sys = Path.Combine("/sys/class/block", Path.GetFileName(device));
        try
        {
            File.WriteAllText(Path.Combine(sys, "uevent"), "change");
            foreach (string partition in Directory.EnumerateDirectories(sys, Path.GetFileName(device) + "p*"))
                File.WriteAllText(Path.Combine(partition, "uevent"), "change");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No udev names is not worth failing a login for: the UUID= line in fstab does not need them.
        }
    }
}
