using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

public sealed class FileDiskTests
{
    [Fact]
    public void Creates_the_file_at_full_size_and_keeps_data_across_reopen()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "member.img");
        byte[] data = StorageTestData.RandomBytes(4096, seed: 10);

        using (var disk = new FileDisk(path, 1024 * 1024))
        {
            Assert.Equal(1024 * 1024, new FileInfo(path).Length);
            disk.Write(512 * 1024, data);
            disk.Flush();
        }

        using (var disk = new FileDisk(path, 1024 * 1024))
        {
            var back = new byte[4096];
            disk.Read(512 * 1024, back);
            Assert.Equal(data, back);

            var hole = new byte[4096];
            hole.AsSpan().Fill(0x55);
            disk.Read(0, hole);
            Assert.All(hole, b => Assert.Equal(0, b));
        }
    }

    [Fact]
    public void Extends_a_smaller_existing_file()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "member.img");
        File.WriteAllBytes(path, StorageTestData.RandomBytes(1024, seed: 11));

        using var disk = new FileDisk(path, 8192);
        Assert.Equal(8192, new FileInfo(path).Length);
        var head = new byte[1024];
        disk.Read(0, head);
        Assert.Equal(StorageTestData.RandomBytes(1024, seed: 11), head);
    }

    [Fact]
    public void Rejects_out_of_range_access_and_a_second_opener()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "member.img");
        using var disk = new FileDisk(path, 8192);
        Assert.Throws<ArgumentOutOfRangeException>(() => disk.Write(8192, new byte[512]));
        Assert.Throws<ArgumentOutOfRangeException>(() => disk.Read(-1, new byte[1]));
        Assert.Throws<IOException>(() => new FileDisk(path, 8192));
    }
}
