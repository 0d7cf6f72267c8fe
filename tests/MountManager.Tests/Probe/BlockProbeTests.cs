using IscsiUp.MountManager.Probe;
using IscsiUp.MountManager.Tests.Support;

namespace IscsiUp.MountManager.Tests.Probe;

/// <summary>blkid for real, on image files.</summary>
public sealed class BlockProbeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public BlockProbeTests() => DiskImages.RequireTools("blkid");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_fresh_sparse_file_is_blank()
    {
        var image = DiskImages.CreateBlank(_dir);

        var result = await new BlockProbe().ProbeAsync(image);

        Assert.Equal(DeviceContent.Blank, result.Content);
        Assert.True(result.IsBlank);
        Assert.Null(result.Type);
        Assert.Null(result.Uuid);
    }

    [Fact]
    public async Task A_partition_table_alone_is_not_blank()
    {
        var image = await DiskImages.CreateWithPartitionTableAsync(_dir);

        var result = await new BlockProbe().ProbeAsync(image);

        Assert.Equal(DeviceContent.PartitionTable, result.Content);
        Assert.False(result.IsBlank);
        Assert.Equal("dos", result.PartitionTableType);
        Assert.Equal("a dos partition table", result.Description);
    }

    [Fact]
    public async Task A_missing_device_is_a_clear_error()
    {
        var missing = _dir.Combine("nbd9");

        var error = await Assert.ThrowsAsync<DeviceNotFoundException>(() => new BlockProbe().ProbeAsync(missing));

        Assert.Equal($"{missing} does not exist", error.Message);
    }

    [Fact]
    public async Task A_directory_is_not_a_device()
    {
        var error = await Assert.ThrowsAsync<DeviceNotFoundException>(() => new BlockProbe().ProbeAsync(_dir.Path));

        Assert.Equal($"{_dir.Path} is a directory, not a block device", error.Message);
    }

    [Fact]
    public void Export_values_are_unescaped()
    {
        var values = BlockProbe.ParseExport("DEVNAME=/tmp/b.img\nLABEL=my\\ label\nUUID=863e9484\nTYPE=ext4\nUSAGE=filesystem\n");

        Assert.Equal("my label", values["LABEL"]);
        Assert.Equal("ext4", values["TYPE"]);
        Assert.Equal(5, values.Count);
    }

    [Theory]
    [InlineData("TYPE=xfs\nUUID=u\nUSAGE=filesystem", DeviceContent.Filesystem, "an xfs filesystem (UUID u)")]
    [InlineData("TYPE=ext4\nUUID=u\nUSAGE=filesystem", DeviceContent.Filesystem, "an ext4 filesystem (UUID u)")]
    [InlineData("TYPE=btrfs\nUSAGE=filesystem", DeviceContent.Filesystem, "a btrfs filesystem")]
    [InlineData("TYPE=swap\nUUID=u\nUSAGE=other", DeviceContent.OtherSignature, "a swap signature")]
    [InlineData("TYPE=linux_raid_member\nUSAGE=raid", DeviceContent.OtherSignature, "a linux_raid_member signature")]
    [InlineData("PTTYPE=gpt\nPTUUID=x", DeviceContent.PartitionTable, "a gpt partition table")]
    public void Descriptions_read_well(string export, DeviceContent content, string description)
    {
        var values = BlockProbe.ParseExport(export);
        var result = new ProbeResult("/dev/nbd0", content, values);

        Assert.Equal(description, result.Description);
    }

    [Fact]
    public async Task Blkid_failing_to_read_is_not_blank()
    {
        var image = DiskImages.CreateBlank(_dir);
        var runner = new FakeSystem { Override = (_, _) => new IscsiUp.MountManager.Tools.CommandResult(2, "", $"blkid: error: {image}: Permission denied\n") };

        var error = await Assert.ThrowsAsync<IscsiUp.MountManager.Tools.ToolFailedException>(() => new BlockProbe(runner).ProbeAsync(image));

        Assert.Equal($"blkid -p -o export {image} failed: blkid: error: {image}: Permission denied", error.Message);
    }
}
