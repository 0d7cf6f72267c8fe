using IscsiUp.MountManager.Format;
using IscsiUp.MountManager.Probe;
using IscsiUp.MountManager.Tests.Support;

namespace IscsiUp.MountManager.Tests.Format;

/// <summary>mkfs.xfs / mkfs.ext4 and blkid for real, on 300 MiB sparse image files.</summary>
public sealed class FormatterTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public FormatterTests() => DiskImages.RequireTools("blkid", "mkfs.xfs", "mkfs.ext4");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Formats_a_blank_device_as_xfs_and_reports_the_new_uuid()
    {
        var image = DiskImages.CreateBlank(_dir);
        var lines = new List<string>();

        var result = await new Formatter().FormatAsync(image, "xfs", progress: lines.Add);

        var probe = await new BlockProbe().ProbeAsync(image);
        Assert.Equal(DeviceContent.Filesystem, probe.Content);
        Assert.Equal("xfs", probe.Type);
        Assert.Equal(probe.Uuid, result.Uuid);
        Assert.True(Guid.TryParse(result.Uuid, out _));
        Assert.False(result.Overwrote);
        Assert.Contains(lines, line => line.StartsWith("meta-data=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Refuses_to_format_an_existing_filesystem_and_leaves_it_untouched()
    {
        var image = DiskImages.CreateBlank(_dir);
        var first = await new Formatter().FormatAsync(image, "xfs");
        var before = Sha.FirstMiB(image);

        var error = await Assert.ThrowsAsync<DeviceNotBlankException>(() => new Formatter().FormatAsync(image, "xfs"));

        Assert.Equal(
            $"{image} already contains an xfs filesystem (UUID {first.Uuid}); refusing to format — pass --force-format to destroy it",
            error.Message);
        Assert.Equal(before, Sha.FirstMiB(image));
        Assert.Equal(first.Uuid, (await new BlockProbe().ProbeAsync(image)).Uuid);
    }

    [Fact]
    public async Task Formats_ext4_and_then_refuses_an_xfs_over_it()
    {
        var image = DiskImages.CreateBlank(_dir);

        var result = await new Formatter().FormatAsync(image, "ext4");
        var before = Sha.FirstMiB(image);
        var error = await Assert.ThrowsAsync<DeviceNotBlankException>(() => new Formatter().FormatAsync(image, "xfs"));

        Assert.Equal("ext4", (await new BlockProbe().ProbeAsync(image)).Type);
        Assert.StartsWith($"{image} already contains an ext4 filesystem (UUID {result.Uuid})", error.Message);
        Assert.Equal(before, Sha.FirstMiB(image));
    }

    [Fact]
    public async Task Refuses_a_device_with_only_a_partition_table()
    {
        var image = await DiskImages.CreateWithPartitionTableAsync(_dir);
        var before = Sha.FirstMiB(image);

        var error = await Assert.ThrowsAsync<DeviceNotBlankException>(() => new Formatter().FormatAsync(image));

        Assert.Equal($"{image} already contains a dos partition table; refusing to format — pass --force-format to destroy it", error.Message);
        Assert.Equal(before, Sha.FirstMiB(image));
    }

    [Fact]
    public async Task Force_destroys_what_was_there()
    {
        var image = DiskImages.CreateBlank(_dir);
        var old = await new Formatter().FormatAsync(image, "xfs");
        var lines = new List<string>();

        var result = await new Formatter().FormatAsync(image, "ext4", force: true, progress: lines.Add);

        Assert.True(result.Overwrote);
        Assert.Equal("xfs", result.Previous.Type);
        Assert.NotEqual(old.Uuid, result.Uuid);
        var probe = await new BlockProbe().ProbeAsync(image);
        Assert.Equal(("ext4", result.Uuid), (probe.Type, probe.Uuid));
        Assert.Contains($"destroying an xfs filesystem (UUID {old.Uuid}) on {image} (forced)", lines);
    }

    [Fact]
    public async Task Force_also_clears_a_partition_table()
    {
        var image = await DiskImages.CreateWithPartitionTableAsync(_dir);

        var result = await new Formatter().FormatAsync(image, "xfs", force: true);

        var probe = await new BlockProbe().ProbeAsync(image);
        Assert.Equal((DeviceContent.Filesystem, "xfs", result.Uuid), (probe.Content, probe.Type, probe.Uuid));
    }

    [Fact]
    public async Task Only_xfs_and_ext4_are_made()
    {
        var image = DiskImages.CreateBlank(_dir);

        var error = await Assert.ThrowsAsync<UnsupportedFilesystemException>(() => new Formatter().FormatAsync(image, "btrfs"));

        Assert.Equal("unsupported filesystem type 'btrfs'; use xfs or ext4", error.Message);
        Assert.True((await new BlockProbe().ProbeAsync(image)).IsBlank);
    }

    [Fact]
    public async Task A_missing_device_is_reported_before_mkfs_runs()
    {
        var runner = new FakeSystem();

        var error = await Assert.ThrowsAsync<DeviceNotFoundException>(() => new Formatter(runner).FormatAsync("/dev/nbd-missing-test"));

        Assert.Equal("/dev/nbd-missing-test does not exist", error.Message);
        Assert.Empty(runner.Calls);
    }

    [Fact]
    public async Task A_failing_mkfs_is_reported_with_its_own_words()
    {
        var image = DiskImages.CreateBlank(_dir);
        var runner = new FakeSystem
        {
            Override = (tool, _) => tool == "mkfs.xfs"
                ? new IscsiUp.MountManager.Tools.CommandResult(1, "", "mkfs.xfs: cannot open /dev/nbd0: Device or resource busy\n")
                : null,
        };

        var error = await Assert.ThrowsAsync<IscsiUp.MountManager.Tools.ToolFailedException>(() => new Formatter(runner).FormatAsync(image));

        Assert.Equal($"mkfs.xfs {image} failed: mkfs.xfs: cannot open /dev/nbd0: Device or resource busy", error.Message);
    }
}
