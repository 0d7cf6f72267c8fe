using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

public sealed class Raid5ArrayConcurrencyTests
{
    private const int Block = StorageTestData.Block;
    private const int Chunk = 2048;
    private const int Writers = 8;
    private const int RunBlocks = 2; // writers own interleaved runs of 2 blocks, so every stripe is shared

    [Theory]
    [InlineData(3, false)]
    [InlineData(5, false)]
    [InlineData(4, true)]
    public async Task Concurrent_writers_on_shared_stripes_keep_parity_and_the_last_write_of_every_block(int diskCount, bool degraded)
    {
        using var array = JitteryArray(diskCount);
        if (degraded)
        {
            array.FailDisk(1);
        }

        int hotBlocks = 2 * (diskCount - 1) * Chunk / Block; // the first two stripes
        var expected = new byte[hotBlocks][];
        StorageTestData.RunOnThreads(Writers, writer =>
        {
            var random = new Random(writer);
            int[] runs = Enumerable.Range(0, hotBlocks / RunBlocks).Where(run => run % Writers == writer).ToArray();
            Assert.NotEmpty(runs);
            for (int seq = 1; seq <= 1000; seq++)
            {
                int run = runs[random.Next(runs.Length)];
                int first = random.Next(RunBlocks);
                int count = random.Next(1, RunBlocks - first + 1);
                long lba = ((long)run * RunBlocks) + first;
                var data = new byte[count * Block];
                for (int i = 0; i < count; i++)
                {
                    StorageTestData.Stamp(data.AsSpan(i * Block, Block), lba + i, writer, seq);
                }

                StorageTestData.Write(array, lba * Block, data);
                for (int i = 0; i < count; i++)
                {
                    expected[lba + i] = data.AsSpan(i * Block, Block).ToArray(); // only this writer owns the block
                }
            }
        });

        var back = new byte[Block];
        for (int lba = 0; lba < hotBlocks; lba++)
        {
            await array.ReadAsync((long)lba * Block, back);
            byte[] want = expected[lba] ?? new byte[Block];
            Assert.True(want.AsSpan().SequenceEqual(back), $"block {lba}");
        }

        if (!degraded)
        {
            Assert.True(array.CheckParity().IsClean);
        }
    }

    [Fact]
    public async Task Overlapping_multi_stripe_writers_leave_whole_blocks_and_clean_parity()
    {
        using var array = JitteryArray(4);
        int stripeBlocks = 3 * Chunk / Block;
        int hotBlocks = 4 * stripeBlocks;
        StorageTestData.RunOnThreads(Writers, writer =>
        {
            var random = new Random(1000 + writer);
            for (int seq = 1; seq <= 200; seq++)
            {
                int first = random.Next(hotBlocks);
                int count = Math.Min(hotBlocks - first, random.Next(1, 2 * stripeBlocks));
                var data = new byte[count * Block];
                for (int i = 0; i < count; i++)
                {
                    StorageTestData.Stamp(data.AsSpan(i * Block, Block), first + i, writer, seq);
                }

                StorageTestData.Write(array, (long)first * Block, data);
            }
        });

        Assert.True(array.CheckParity().IsClean);
        var back = new byte[hotBlocks * Block];
        await array.ReadAsync(0, back);
        for (int lba = 0; lba < hotBlocks; lba++)
        {
            ReadOnlySpan<byte> block = back.AsSpan(lba * Block, Block);
            Assert.True(block.ContainsAnyExcept((byte)0) ? StorageTestData.IsWholeStamp(block, lba) : true, $"block {lba} is torn");
        }
    }

    private static Raid5Array JitteryArray(int diskCount) =>
        new(Enumerable.Range(0, diskCount).Select(_ => new JitterDisk(new MemoryDisk(8 * Chunk))).ToArray(), [], Chunk);
}
