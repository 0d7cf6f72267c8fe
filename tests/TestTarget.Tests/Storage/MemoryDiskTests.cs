using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

public sealed class MemoryDiskTests
{
    [Fact]
    public void Round_trips_across_piece_boundaries_and_reads_zeros_elsewhere()
    {
        using var disk = new MemoryDisk(3 * 1024 * 1024);
        byte[] data = StorageTestData.RandomBytes(8192, seed: 1);
        long offset = (1024 * 1024) - 4096; // straddles the first 1 MiB piece boundary
        disk.Write(offset, data);

        var back = new byte[8192];
        disk.Read(offset, back);
        Assert.Equal(data, back);

        var elsewhere = new byte[4096];
        elsewhere.AsSpan().Fill(0xAA);
        disk.Read(2 * 1024 * 1024, elsewhere);
        Assert.All(elsewhere, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Is_sparse_so_a_large_disk_costs_only_what_was_written()
    {
        using var disk = new MemoryDisk(1L << 30);
        Assert.Equal(0, disk.AllocatedBytes);

        disk.Write(0, new byte[65536]); // zeros into a hole allocate nothing
        Assert.Equal(0, disk.AllocatedBytes);

        disk.Write((1L << 30) - 512, StorageTestData.RandomBytes(512, seed: 2));
        Assert.Equal(1024 * 1024, disk.AllocatedBytes);

        var tail = new byte[512];
        disk.Read((1L << 30) - 512, tail);
        Assert.Equal(StorageTestData.RandomBytes(512, seed: 2), tail);
    }

    [Fact]
    public void Zeros_overwrite_existing_data()
    {
        using var disk = new MemoryDisk(1024 * 1024);
        disk.Write(4096, StorageTestData.RandomBytes(4096, seed: 4));
        disk.Write(5120, new byte[1024]);
        var back = new byte[4096];
        disk.Read(4096, back);
        Assert.Equal(StorageTestData.RandomBytes(4096, seed: 4).AsSpan(0, 1024).ToArray(), back[..1024]);
        Assert.All(back[1024..2048], b => Assert.Equal(0, b));
        Assert.Equal(StorageTestData.RandomBytes(4096, seed: 4)[2048..], back[2048..]);
    }

    [Fact]
    public void Handles_a_size_that_is_not_a_whole_number_of_pieces()
    {
        long size = (1024 * 1024) + 1536;
        using var disk = new MemoryDisk(size);
        byte[] data = StorageTestData.RandomBytes(1536, seed: 3);
        disk.Write(size - 1536, data);
        var back = new byte[1536];
        disk.Read(size - 1536, back);
        Assert.Equal(data, back);
    }

    [Fact]
    public void Rejects_ranges_outside_the_disk_and_use_after_dispose()
    {
        var disk = new MemoryDisk(4096);
        Assert.Throws<ArgumentOutOfRangeException>(() => disk.Read(3584, new byte[1024]));
        Assert.Throws<ArgumentOutOfRangeException>(() => disk.Write(-512, new byte[512]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryDisk(0));
        disk.Dispose();
        Assert.Throws<ObjectDisposedException>(() => disk.Read(0, new byte[512]));
    }
}
