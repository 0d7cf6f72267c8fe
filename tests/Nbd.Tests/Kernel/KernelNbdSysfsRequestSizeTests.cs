using IscsiUp.Nbd.Kernel;
using Xunit;

namespace IscsiUp.Nbd.Tests.Kernel;

/// <summary>
/// The largest request the kernel sends to /dev/nbdX: raised from the driver's 128 KiB to the LUN's maximum
/// transfer, never above what the queue allows. Runs against a directory laid out like /sys/block.
/// </summary>
public sealed class KernelNbdSysfsRequestSizeTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sysfs-").FullName;
    private readonly KernelNbdSysfs _sysfs;

    public KernelNbdSysfsRequestSizeTests() => _sysfs = new KernelNbdSysfs(_root, Path.Combine(_root, "proc"), Path.Combine(_root, "dev"));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Queue(int hardwareKb)
    {
        string queue = Path.Combine(_root, "nbd3", "queue");
        Directory.CreateDirectory(queue);
        File.WriteAllText(Path.Combine(queue, "max_hw_sectors_kb"), $"{hardwareKb}\n");
        File.WriteAllText(Path.Combine(queue, "max_sectors_kb"), "128\n");
        return Path.Combine(queue, "max_sectors_kb");
    }

    [Fact]
    public void Raises_the_limit_to_the_luns_maximum_transfer()
    {
        string file = Queue(hardwareKb: 32768);
        Assert.Equal(4096, _sysfs.LimitRequestSize(3, 4 * 1024 * 1024));
        Assert.Equal("4096", File.ReadAllText(file));
    }

    [Fact]
    public void Never_above_what_the_queue_allows()
    {
        string file = Queue(hardwareKb: 1024);
        Assert.Equal(1024, _sysfs.LimitRequestSize(3, 32 * 1024 * 1024));
        Assert.Equal("1024", File.ReadAllText(file));
    }

    [Fact]
    public void A_tiny_lun_limit_still_leaves_a_page()
    {
        string file = Queue(hardwareKb: 32768);
        Assert.Equal(4, _sysfs.LimitRequestSize(3, 512));
        Assert.Equal("4", File.ReadAllText(file));
    }

    [Fact]
    public void A_device_without_a_queue_directory_is_left_alone() =>
        Assert.Null(_sysfs.LimitRequestSize(7, 4 * 1024 * 1024));
}
