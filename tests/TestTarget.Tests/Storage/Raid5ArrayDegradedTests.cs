using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

public sealed class Raid5ArrayDegradedTests
{
    private const int Block = StorageTestData.Block;
    private const int Chunk = 4096;
    private const long DiskSize = 32 * Chunk;

    public static TheoryData<int, int> FailedMembers => new() { { 3, 0 }, { 3, 1 }, { 3, 2 }, { 5, 3 } };

    [Theory]
    [MemberData(nameof(FailedMembers))]
    public async Task Degraded_reads_return_the_same_bytes_and_degraded_writes_read_back(int diskCount, int failed)
    {
        MemoryDisk[] disks = Enumerable.Range(0, diskCount).Select(_ => new MemoryDisk(DiskSize)).ToArray();
        using var array = new Raid5Array(disks, [], Chunk);
        var log = new List<string>();
        array.Log += log.Add;
        byte[] model = StorageTestData.RandomBytes((int)array.Capacity, seed: failed);
        await array.WriteAsync(0, model);

        array.FailDisk(failed);
        disks[failed].Dispose(); // any access to the failed member would now throw
        Assert.Equal(RaidState.Degraded, array.State);
        Assert.Contains(log, line => line.Contains($"disk {failed}") && line.Contains("degraded"));
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));

        int stripe = (diskCount - 1) * Chunk;
        var random = new Random(failed);
        (long Offset, int Length)[] writes =
        [
            (Block, Block),
            ((2 * stripe) + Chunk - Block, 2 * Block),
            (3 * stripe, stripe),
            ((5 * stripe) + Chunk, Chunk),
            ((6 * stripe) + 1024, (3 * stripe) + 512),
            .. Enumerable.Range(0, 60).Select(_ =>
            {
                long lba = random.NextInt64(array.Capacity / Block);
                int count = (int)Math.Min((array.Capacity / Block) - lba, random.Next(1, 2 * stripe / Block));
                return (lba * Block, count * Block);
            }),
        ];

        int seed = 1000;
        foreach ((long offset, int length) in writes)
        {
            byte[] data = StorageTestData.RandomBytes(length, seed++);
            await array.WriteAsync(offset, data);
            data.CopyTo(model, offset);
        }

        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
        await array.FlushAsync();
        Assert.Equal(0, array.CheckParity().StripesChecked); // nothing verifiable with a member missing
    }

    [Fact]
    public async Task A_second_failure_fails_the_array_and_all_io_throws()
    {
        using var array = Raid5Array.CreateInMemory(3, 0, DiskSize, Chunk);
        await array.WriteAsync(0, StorageTestData.RandomBytes(8192, seed: 1));
        var log = new List<string>();
        array.Log += log.Add;

        array.FailDisk(2);
        array.FailDisk(2); // failing the same member again changes nothing
        Assert.Equal(RaidState.Degraded, array.State);
        array.FailDisk(0);
        Assert.Equal(RaidState.Failed, array.State);

        var read = await Assert.ThrowsAsync<RaidFailedException>(async () => await array.ReadAsync(0, new byte[Block]));
        Assert.Equal("RAID-5 array failed: 2 of 3 members lost", read.Message);
        await Assert.ThrowsAsync<RaidFailedException>(async () => await array.WriteAsync(0, new byte[Block]));
        await Assert.ThrowsAsync<RaidFailedException>(async () => await array.FlushAsync());
        Assert.Throws<RaidFailedException>(() => array.CheckParity());
        Assert.Contains(log, line => line.Contains("2 of 3 members lost"));
    }

    [Fact]
    public async Task A_failure_during_a_rebuild_fails_the_array_and_ends_the_rebuild()
    {
        var spare = new GatedDisk(new MemoryDisk(DiskSize));
        using var array = new Raid5Array([new MemoryDisk(DiskSize), new MemoryDisk(DiskSize), new MemoryDisk(DiskSize)], [spare], Chunk);
        await array.WriteAsync(0, StorageTestData.RandomBytes(8192, seed: 2));

        array.FailDisk(1);
        Assert.Equal(RaidState.Rebuilding, array.State);
        Assert.False(array.RebuildCompletion.IsCompleted);
        Task rebuild = array.RebuildCompletion;

        array.FailDisk(2);
        Assert.Equal(RaidState.Failed, array.State);
        spare.Open();
        await StorageTestData.WithinAsync(rebuild, "the abandoned rebuild");
        Assert.Equal(RaidState.Failed, array.State);
        await Assert.ThrowsAsync<RaidFailedException>(async () => await array.ReadAsync(0, new byte[Block]));
    }

    [Fact]
    public void FailDisk_rejects_an_index_outside_the_active_members()
    {
        using var array = Raid5Array.CreateInMemory(3, 1, DiskSize, Chunk);
        Assert.Throws<ArgumentOutOfRangeException>(() => array.FailDisk(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => array.FailDisk(-1));
        Assert.Equal(RaidState.Clean, array.State);
    }
}
