using System.Buffers.Binary;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Tests.Support;

/// <summary>Sparse image files standing in for block devices.</summary>
public static class DiskImages
{
    public const long DefaultSize = 300L * 1024 * 1024;

    /// <summary>Like <c>truncate -s 300M</c>: a sparse file of zeros.</summary>
    public static string CreateBlank(TempDirectory directory, string name = "disk.img", long size = DefaultSize)
    {
        var path = directory.Combine(name);
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.SetLength(size);
        return path;
    }

    /// <summary>
    /// An image holding only an MBR partition table (one Linux partition, no filesystem in it), written
    /// with sfdisk when installed, by hand otherwise.
    /// </summary>
    public static async Task<string> CreateWithPartitionTableAsync(TempDirectory directory, string name = "mbr.img")
    {
        var path = CreateBlank(directory, name);
        if (ToolLocator.Find("sfdisk") is { } sfdisk)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var result = await CliWrap.Cli.Wrap(sfdisk)
                .WithArguments(["--quiet", path])
                .WithStandardInputPipe(CliWrap.PipeSource.FromString("label: dos\nstart=2048, type=83\n"))
                .WithValidation(CliWrap.CommandResultValidation.None)
                .ExecuteAsync(deadline.Token);
            Assert.True(result.ExitCode == 0, $"sfdisk failed on {path}");
            return path;
        }

        var sector = new byte[512];
        BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(440), 0x1234ABCD); // disk signature
        sector[446 + 4] = 0x83; // partition type: Linux
        BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(446 + 8), 2048); // first LBA
        BinaryPrimitives.WriteUInt32LittleEndian(sector.AsSpan(446 + 12), 100_000); // sectors
        sector[510] = 0x55;
        sector[511] = 0xAA;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.Write(sector);
        return path;
    }

    /// <summary>Fails the test with an install hint when a tool the test drives for real is missing.</summary>
    public static void RequireTools(params string[] tools)
    {
        foreach (var tool in tools)
        {
            Assert.True(ToolLocator.Find(tool) is not null,
                $"precondition: {tool} is not installed (apt-get install xfsprogs e2fsprogs util-linux)");
        }
    }
}
