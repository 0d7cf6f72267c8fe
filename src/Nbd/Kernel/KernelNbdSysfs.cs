using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace IscsiUp.Nbd.Kernel;

/// <summary>
/// What /sys/block/nbdX says about a kernel nbd device: the backend identifier its creator gave it, its size,
/// whether it is in use; and the one queue limit we set. The roots are parameters so tests can point them at a
/// directory of their own.
/// </summary>
public sealed class KernelNbdSysfs(string sysBlock = "/sys/block", string proc = "/proc", string dev = "/dev")
{
    public static readonly KernelNbdSysfs Host = new();

    /// <summary>The backend identifier (/sys/block/nbdX/backend), or null when the device is not connected.</summary>
    public string? Backend(int index) => ReadLine(Path.Combine(sysBlock, $"nbd{index}", "backend"));

    /// <summary>The device's size in bytes (/sys/block/nbdX/size counts 512-byte sectors), or null.</summary>
    public long? SizeBytes(int index) =>
        long.TryParse(ReadLine(Path.Combine(sysBlock, $"nbd{index}", "size")), out long sectors) ? sectors * 512 : null;

    /// <summary>
    /// Lets the kernel send requests of up to <paramref name="maxBytes"/> (the LUN's maximum transfer) by raising
    /// queue/max_sectors_kb, capped by max_hw_sectors_kb. The nbd driver starts every device at 128 KiB, so
    /// without this a 1 MiB write reaches the target as eight commands (open-iscsi's /dev/sdX starts at
    /// 1280 KiB or the LUN's limit). Returns the KiB now in effect, or null when sysfs could not be read or set.
    /// </summary>
    public int? LimitRequestSize(int index, long maxBytes)
    {
        string queue = Path.Combine(sysBlock, $"nbd{index}", "queue");
        if (!int.TryParse(ReadLine(Path.Combine(queue, "max_hw_sectors_kb")), out int hardwareKb) || hardwareKb <= 0) return null;
        // The kernel refuses less than a page.
        int wantedKb = (int)Math.Max(4, Math.Min(hardwareKb, maxBytes / 1024));
        try
        {
            File.WriteAllText(Path.Combine(queue, "max_sectors_kb"), wantedKb.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return int.TryParse(ReadLine(Path.Combine(queue, "max_sectors_kb")), out int setKb) ? setKb : null;
    }

    /// <summary>
    /// True when something uses the device: a mounted filesystem or a holder such as md or dm (an exclusive
    /// open fails with EBUSY), or a process holding it (or one of its partitions) open.
    /// </summary>
    public bool IsInUse(int index)
    {
        string node = Path.Combine(dev, $"nbd{index}");
        if (Directory.Exists(Path.Combine(sysBlock, $"nbd{index}", "holders")) &&
            Directory.EnumerateFileSystemEntries(Path.Combine(sysBlock, $"nbd{index}", "holders")).Any())
            return true;
        if (ExclusiveOpenBusy(node)) return true;
        return OpenedByAnotherProcess(node);
    }

    private static unsafe bool ExclusiveOpenBusy(string node)
    {
        if (!File.Exists(node)) return false;
        int fd;
        fixed (byte* path = System.Text.Encoding.UTF8.GetBytes(node + "\0"))
            fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) return errno == EBUSY;
        close(fd);
        return false;
    }

    private bool OpenedByAnotherProcess(string node)
    {
        string self = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        IEnumerable<string> processes;
        try { processes = Directory.EnumerateDirectories(proc).ToArray(); }
        catch (IOException) { return false; }
        foreach (string process in processes)
        {
            string name = Path.GetFileName(process);
            if (name == self || !name.All(char.IsAsciiDigit)) continue;
            string[] fds;
            try { fds = Directory.GetFileSystemEntries(Path.Combine(process, "fd")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; } // gone, or not ours to see
            foreach (string fd in fds)
            {
                string? target;
                try { target = new FileInfo(fd).LinkTarget; }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                if (target is not null && IsNodeOrPartition(target, node)) return true;
            }
        }
        return false;
    }

    /// <summary>/dev/nbd1 and /dev/nbd1p2 are the device; /dev/nbd10 is not.</summary>
    public static bool IsNodeOrPartition(string path, string node) =>
        path == node || (path.StartsWith(node + "p", StringComparison.Ordinal) && path.Length > node.Length + 1 && path[(node.Length + 1)..].All(char.IsAsciiDigit));

    private static string? ReadLine(string path)
    {
        try { return File.Exists(path) ? File.ReadAllText(path).Trim() : null; }
        catch (IOException) { return null; }
    }
}
