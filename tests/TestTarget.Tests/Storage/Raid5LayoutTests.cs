using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

/// <summary>Reads the member disks directly to check md's left-symmetric placement and XOR parity.</summary>
public sealed class Raid5LayoutTests
{
    private const int P = -1;

    // Logical chunk number held by each member, per stripe (P = parity), as md lays out RAID-5
    // with the default left-symmetric algorithm.
    private static readonly int[][] ThreeDisks =
    [
        [0, 1, P],
        [3, P, 2],
        [P, 4, 5],
        [6, 7, P],
    ];

    private static readonly int[][] FourDisks =
    [
        [0, 1, 2, P],
        [4, 5, P, 3],
        [8, P, 6, 7],
        [P, 9, 10, 11],
        [12, 13, 14, P],
    ];

    public static TheoryData<int> DiskCounts => [3, 4];

    [Theory]
    [MemberData(nameof(DiskCounts))]
    public async Task Places_data_and_parity_left_symmetric(int diskCount)
    {
        const int chunk = 1024;
        int[][] table = diskCount == 3 ? ThreeDisks : FourDisks;
        MemoryDisk[] disks = Enumerable.Range(0, diskCount).Select(_ => new MemoryDisk(8 * chunk)).ToArray();
        using var array = new Raid5Array(disks, [], chunk);
        Assert.Equal((diskCount - 1) * 8 * chunk, array.Capacity);

        byte[] data = StorageTestData.RandomBytes((int)array.Capacity, seed: diskCount);
        await array.WriteAsync(0, data);

        var onDisk = new byte[chunk];
        for (int stripe = 0; stripe < table.Length; stripe++)
        {
            for (int disk = 0; disk < diskCount; disk++)
            {
                disks[disk].Read((long)stripe * chunk, onDisk);
                byte[] expected = table[stripe][disk] == P
                    ? ParityOf(data, stripe, diskCount, chunk)
                    : data.AsSpan(table[stripe][disk] * chunk, chunk).ToArray();
                Assert.True(expected.AsSpan().SequenceEqual(onDisk), $"stripe {stripe}, disk {disk}");
            }
        }
    }

    [Fact]
    public void Capacity_is_whole_chunks_of_the_smallest_member()
    {
        const int chunk = 4096;
        using var array = new Raid5Array(
            [new MemoryDisk((10 * chunk) + 512), new MemoryDisk(12 * chunk), new MemoryDisk(11 * chunk)],
            [new MemoryDisk(10 * chunk)],
            chunk);
        Assert.Equal(2 * 10 * chunk, array.Capacity);
        Assert.Equal(3, array.ActiveDiskCount);
        Assert.Equal(1, array.SpareCount);
        Assert.Equal(RaidState.Clean, array.State);
    }

    private static byte[] ParityOf(byte[] data, int stripe, int diskCount, int chunk)
    {
        var parity = new byte[chunk];
        for (int d = 0; d < diskCount - 1; d++)
        {
            int start = ((stripe * (diskCount - 1)) + d) * chunk;
            for (int i = 0; i < chunk; i++)
            {
                parity[i] ^= data[start + i];
            }
        }

        return parity;
    }
}
