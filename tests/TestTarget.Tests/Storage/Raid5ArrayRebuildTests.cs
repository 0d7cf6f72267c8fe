using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

public sealed class Raid5ArrayRebuildTests
{
    private const int Chunk = 4096;
    private const int Stripes = 64;
    private const long DiskSize = Stripes * Chunk;

    [Fact]
    public async Task Rebuild_onto_the_spare_ends_clean_with_the_data_intact()
    {
        MemoryDisk[] disks = [new(DiskSize), new(DiskSize), new(DiskSize)];
        var spare = new MemoryDisk(DiskSize);
        using var array = new Raid5Array(disks, [spare], Chunk);
        var log = new List<string>();
        array.Log += line => { lock (log) { log.Add(line); } };
        byte[] model = StorageTestData.RandomBytes((int)array.Capacity, seed: 3);
        await array.WriteAsync(0, model);
        Assert.Equal(1.0, array.RebuildProgress);

        array.FailDisk(2);
        disks[2].Dispose(); // the rebuild must not read the failed member
        await StorageTestData.WithinAsync(array.RebuildCompletion, "the rebuild");

        Assert.Equal(RaidState.Clean, array.State);
        Assert.Equal(0, array.SpareCount);
        Assert.Equal(1.0, array.RebuildProgress);
        ParityCheckResult check = array.CheckParity();
        Assert.True(check.IsClean);
        Assert.Equal(Stripes, check.StripesChecked);
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));

        // The spare now really is member 2: its chunks match the layout (stripe 0: parity on disk 2).
        var parity = new byte[Chunk];
        spare.Read(0, parity);
        for (int i = 0; i < Chunk; i++)
        {
            Assert.Equal((byte)(model[i] ^ model[Chunk + i]), parity[i]);
        }

        lock (log)
        {
            Assert.Contains(log, line => line.Contains("disk 2") && line.Contains("failed"));
            Assert.Contains(log, line => line.Contains("rebuild") && line.Contains("finished"));
        }

        // With the spare used up, the next failure only degrades the array.
        array.FailDisk(0);
        Assert.Equal(RaidState.Degraded, array.State);
        Assert.True(array.RebuildCompletion.IsCompleted);
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
    }

    [Fact]
    public async Task Writes_during_the_rebuild_land_on_both_sides_of_the_rebuild_position()
    {
        MemoryDisk[] disks = [new(DiskSize), new(DiskSize), new(DiskSize)];
        var spare = new GatedDisk(new MemoryDisk(DiskSize));
        using var array = new Raid5Array(disks, [spare], Chunk);
        const int stripeBytes = 2 * Chunk;
        byte[] model = StorageTestData.RandomBytes((int)array.Capacity, seed: 4);
        await array.WriteAsync(0, model);

        array.FailDisk(1);
        disks[1].Dispose();
        const int held = 20;
        spare.Release(held); // the rebuild copies stripes 0..19, then waits inside stripe 20
        await StorageTestData.WaitUntilAsync(() => array.RebuildProgress >= (double)held / Stripes, "stripes 0..19 are rebuilt");
        Assert.Equal(RaidState.Rebuilding, array.State);
        Assert.Equal((double)held / Stripes, array.RebuildProgress);

        async Task Write(long offset, int length, int seed)
        {
            byte[] data = StorageTestData.RandomBytes(length, seed);
            await array.WriteAsync(offset, data);
            lock (model)
            {
                data.CopyTo(model, offset);
            }
        }

        // Already rebuilt stripes (the spare must receive these) and not yet rebuilt ones.
        await Write(512, 1024, 40);
        await Write((3 * stripeBytes) + Chunk - 512, 1536, 41);
        await Write(5 * stripeBytes, 3 * stripeBytes, 42);
        await Write(((held - 1) * stripeBytes) + 2048, 1024, 43);
        await Write(((held + 1) * stripeBytes) + 512, 512, 44);
        await Write((30 * stripeBytes) + 1024, (4 * stripeBytes) + 2048, 45);
        await Write(array.Capacity - stripeBytes, stripeBytes, 46);

        // A write through the stripe being rebuilt waits for its lock.
        Task blocked = Task.Run(() => Write(((held - 1) * stripeBytes) + 4096, 2 * stripeBytes, 47));
        await Task.Delay(100);
        Assert.False(blocked.IsCompleted);

        spare.Open();
        await StorageTestData.WithinAsync(blocked, "the write through the rebuilding stripe");
        await StorageTestData.WithinAsync(array.RebuildCompletion, "the rebuild");

        Assert.Equal(RaidState.Clean, array.State);
        ParityCheckResult check = array.CheckParity();
        Assert.True(check.IsClean, $"inconsistent stripes: {string.Join(",", check.InconsistentStripeNumbers)}");
        Assert.Equal(Stripes, check.StripesChecked);
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
    }

    [Fact]
    public async Task Reads_and_writes_keep_flowing_while_a_rebuild_runs()
    {
        using var array = Raid5Array.CreateInMemory(4, 1, 256 * Chunk, Chunk);
        byte[] model = StorageTestData.RandomBytes((int)array.Capacity, seed: 5);
        await array.WriteAsync(0, model);

        array.FailDisk(3);
        var random = new Random(5);
        int writes = 0;
        do
        {
            long lba = random.NextInt64(array.Capacity / 512);
            int count = (int)Math.Min((array.Capacity / 512) - lba, random.Next(1, 64));
            byte[] data = StorageTestData.RandomBytes(count * 512, seed: writes++);
            await array.WriteAsync(lba * 512, data);
            data.CopyTo(model, lba * 512);
            var back = new byte[data.Length];
            await array.ReadAsync(lba * 512, back);
            Assert.Equal(data, back);
        }
        while (!array.RebuildCompletion.IsCompleted || writes < 50);

        await array.RebuildCompletion;
        Assert.Equal(RaidState.Clean, array.State);
        Assert.True(array.CheckParity().IsClean);
        Assert.Equal(model, await StorageTestData.ReadAllAsync(array));
    }
}
