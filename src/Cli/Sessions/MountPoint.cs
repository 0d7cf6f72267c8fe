namespace IscsiUp.Cli.Sessions;

/// <summary>Where a block device (or one of its partitions) is mounted, from /proc/self/mounts.</summary>
public static class MountPoint
{
    /// <summary>The mount point of <paramref name="device"/> or a partition of it; null when it is not mounted (or not a /dev path).</summary>
    public static string? Of(string device)
    {
        if (!device.StartsWith("/dev/", StringComparison.Ordinal) || !File.Exists("/proc/self/mounts")) return null;
        foreach (var line in File.ReadLines("/proc/self/mounts"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 1 && (fields[0] == device || fields[0].StartsWith(device + "p", StringComparison.Ordinal)))
                return fields[1].Replace("\\040", " ");
        }
        return null;
    }
}
