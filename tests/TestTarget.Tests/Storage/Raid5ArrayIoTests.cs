using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

public sealed class Raid5ArrayIoTests
{
    private const int Block = StorageTestData.Block;
    private const int Chunk = 4096;

    public static TheoryData<int> DiskCounts => [3, 4, 5];

    [Theory]
    [MemberData(nameof(DiskCounts))]
    public async Task Round_trips_random_writes_at_unaligned_offsets_spanning_stripes(int diskCount)
    {
        using var array = Raid5Array.CreateInMemory(diskCount, 0, 256 * 1024, Chunk);
        var model = new byte[array.Capacity];
        var random = new Random(diskCount);
        int stripeBytes = (diskCount - 1) * Chunk;
        long blocks = array.Capacity / Block;

        for (int i = 0; i < 200; i++)
        {
            long lba = random.NextInt64(blocks);
            int count = (int)Math.Min(blocks - lba, random.Next(1, (3 * stripeBytes / Block) + 1));
            byte[] data = StorageTestData.RandomBytes(count * Block, seed: i);
            await array.WriteAsync(lba * Block, data);
            data.CopyTo(model, lba * Block);
        }

        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
        for (int i = 0; i < 50; i++)
        {
            long lba = random.NextInt64(blocks);
            int count = (int)Math.Min(blocks - lba, random.Next(1, (2 * stripeBytes / Block) + 1));
            var back = new byte[count * Block];
            await array.ReadAsync(lba * Block, back);
            Assert.True(back.AsSpan().SequenceEqual(model.AsSpan((int)(lba * Block), back.Length)), $"read at block {lba}");
        }

        Assert.True(array.CheckParity().IsClean);
    }

    [Theory]
    [MemberData(nameof(DiskCounts))]
    public async Task Partial_and_full_stripe_writes_keep_parity_consistent(int diskCount)
    {
        using var array = Raid5Array.CreateInMemory(diskCount, 0, 16 * Chunk, Chunk);
        int stripe = (diskCount - 1) * Chunk;
        var model = new byte[array.Capacity];
        (long Offset, int Length)[] writes =
        [
            (stripe + 1024, Block),                  // one block inside a chunk
            ((2 * stripe) + Chunk - Block, 2 * Block), // across a chunk boundary
            ((3 * stripe) + Chunk, Chunk),           // exactly one chunk
            (4 * stripe, stripe),                    // one full stripe
            (5 * stripe, 2 * stripe),                // two full stripes
            ((7 * stripe) + 1536, (2 * stripe) + 1024), // partial, full, partial
            (array.Capacity - Block, Block),         // the last block
            ((3 * stripe) + Block, Block),           // small write over earlier data
        ];

        int seed = 100;
        foreach ((long offset, int length) in writes)
        {
            byte[] data = StorageTestData.RandomBytes(length, seed++);
            await array.WriteAsync(offset, data);
            data.CopyTo(model, offset);

            ParityCheckResult check = array.CheckParity();
            Assert.True(check.IsClean, $"parity inconsistent after writing {length} bytes at {offset}: stripes {string.Join(",", check.InconsistentStripeNumbers)}");
            Assert.Equal(16, check.StripesChecked);
        }

        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
    }

    [Fact]
    public async Task CheckParity_reports_a_stripe_whose_member_was_corrupted_behind_the_arrays_back()
    {
        MemoryDisk[] disks = [new(16 * Chunk), new(16 * Chunk), new(16 * Chunk)];
        using var array = new Raid5Array(disks, [], Chunk);
        await array.WriteAsync(0, StorageTestData.RandomBytes((int)array.Capacity, seed: 7));
        Assert.True(array.CheckParity().IsClean);

        var sector = new byte[Block];
        disks[1].Read((5 * Chunk) + 1024, sector);
        sector[17] ^= 0x40;
        disks[1].Write((5 * Chunk) + 1024, sector);

        ParityCheckResult check = array.CheckParity();
        Assert.False(check.IsClean);
        Assert.Equal(16, check.StripesChecked);
        Assert.Equal(1, check.InconsistentStripes);
        Assert.Equal([5L], check.InconsistentStripeNumbers);
    }

    [Fact]
    public async Task Default_512KiB_chunks_round_trip_and_survive_a_rebuild()
    {
        using var array = Raid5Array.CreateInMemory(3, 1, 4 * 1024 * 1024);
        Assert.Equal(512 * 1024, array.ChunkSize);
        Assert.Equal(8L * 1024 * 1024, array.Capacity);

        byte[] model = StorageTestData.RandomBytes((int)array.Capacity, seed: 512);
        await array.WriteAsync(0, model);
        byte[] patch = StorageTestData.RandomBytes(64 * 1024, seed: 513);
        long patchOffset = (3 * 512 * 1024) - (16 * 1024); // crosses the stripe 0 / stripe 1 boundary
        await array.WriteAsync(patchOffset, patch);
        patch.CopyTo(model, patchOffset);

        ParityCheckResult check = array.CheckParity();
        Assert.True(check.IsClean);
        Assert.Equal(8, check.StripesChecked);
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));

        array.FailDisk(0);
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
        await StorageTestData.WithinAsync(array.RebuildCompletion, "the rebuild");
        Assert.Equal(RaidState.Clean, array.State);
        Assert.True(array.CheckParity().IsClean);
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
    }

    [Fact]
    public async Task A_1GiB_in_memory_array_allocates_only_what_is_written()
    {
        const long member = 512L * 1024 * 1024;
        MemoryDisk[] disks = [new(member), new(member), new(member)];
        MemoryDisk spare = new(member);
        using var array = new Raid5Array(disks, [spare]);
        Assert.Equal(1L << 30, array.Capacity);

        byte[] head = StorageTestData.RandomBytes(8192, seed: 1);
        byte[] tail = StorageTestData.RandomBytes(8192, seed: 2);
        await array.WriteAsync(0, head);
        await array.WriteAsync(array.Capacity - 8192, tail);

        var back = new byte[8192];
        await array.ReadAsync(array.Capacity - 8192, back);
        Assert.Equal(tail, back);
        await array.ReadAsync(0, back);
        Assert.Equal(head, back);
        Assert.True(disks.Sum(d => d.AllocatedBytes) <= 6 * 1024 * 1024, "members should stay sparse");
    }

    [Fact]
    public async Task Rejects_misaligned_and_out_of_range_requests()
    {
        using var array = Raid5Array.CreateInMemory(3, 0, 16 * Chunk, Chunk);
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await array.ReadAsync(100, new byte[Block]));
        Assert.Contains("multiple of 512", ex.Message);
        ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await array.WriteAsync(0, new byte[700]));
        Assert.Contains("multiple of 512", ex.Message);
        ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await array.WriteAsync(array.Capacity - Block, new byte[2 * Block]));
        Assert.Contains("capacity", ex.Message);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await array.ReadAsync(-Block, new byte[Block]));
        await array.WriteAsync(array.Capacity, ReadOnlyMemory<byte>.Empty); // empty request at the end is fine
    }

    [Fact]
    public async Task Honours_cancellation_before_starting()
    {
        using var array = Raid5Array.CreateInMemory(3, 0, 16 * Chunk, Chunk);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await array.WriteAsync(0, new byte[Block], cts.Token));
        var back = new byte[Block];
        await array.ReadAsync(0, back);
        Assert.All(back, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Rejects_invalid_construction()
    {
        var a = new MemoryDisk(64 * 1024);
        var b = new MemoryDisk(64 * 1024);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Raid5Array([a, b, new MemoryDisk(64 * 1024)], [], chunkSize: 1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Raid5Array([a], [], Chunk));
        Assert.Throws<ArgumentException>(() => new Raid5Array([a, b, a], [], Chunk));
        Assert.Throws<ArgumentException>(() => new Raid5Array([a, b, new MemoryDisk(64 * 1024)], [new MemoryDisk(4096)], Chunk));
        Assert.Throws<ArgumentException>(() => new Raid5Array([a, b, new MemoryDisk(2048)], [], Chunk));
    }
}
