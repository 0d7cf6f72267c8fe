using System.Collections.Concurrent;
using IscsiUp.TestTarget.Storage;
using Xunit.Abstractions;

namespace IscsiUp.TestTarget.Tests.Faults;

/// <summary>
/// RAID-5 under member failures while many writers are busy: one failure loses no acknowledged write and the
/// spare rebuilds to clean parity; a second failure during the rebuild fails the array loudly, and no read ever
/// returns data the writers did not put there.
/// </summary>
public sealed class Raid5FaultTests(ITestOutputHelper output)
{
    private const int Block = BlockModel.Block;
    private const int Chunk = 4096;
    private const int Stripes = 64;
    private const long DiskSize = (long)Stripes * Chunk;
    private const int Writers = 6;
    private const int RunBlocks = 16; // a stripe holds 8*(N-1) blocks, so runs straddle stripes
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static (Raid5Array Array, FaultDisk[] Disks, FaultDisk? Spare) NewArray(int active, bool spare)
    {
        var disks = Enumerable.Range(0, active).Select(_ => new FaultDisk(new MemoryDisk(DiskSize))).ToArray();
        var spareDisk = spare ? new FaultDisk(new MemoryDisk(DiskSize), jitter: false) : null;
        return (new Raid5Array(disks, spareDisk is null ? [] : [spareDisk], Chunk), disks, spareDisk);
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting until {what}");
            Thread.Sleep(1);
        }
    }

    [Theory]
    [InlineData(4, 1, true, 11)]
    [InlineData(3, 0, true, 12)]
    [InlineData(5, 4, true, 13)]
    [InlineData(4, 2, false, 14)]
    public async Task A_disk_failing_during_concurrent_writes_loses_no_acknowledged_write(int active, int failing, bool spare, int seed)
    {
        var (array, _, _) = NewArray(active, spare);
        using var _ = array;
        var log = new ConcurrentQueue<string>();
        array.Log += log.Enqueue;
        long blocks = array.Capacity / Block;
        var model = new BlockModel(blocks);
        var owners = new Ownership(blocks, Writers, RunBlocks);
        const int writesPerWriter = 250;
        long acknowledged = 0, readsChecked = 0, writesAfterFailure = 0;
        int failedAt = -1;
        var failed = new ManualResetEventSlim(false);

        Threads.Run(Writers, id =>
        {
            var r = new Random(seed * 100 + id);
            long[] runs = owners.RunsOf(id);
            for (int seq = 1; seq <= writesPerWriter; seq++)
            {
                long run = runs[r.Next(runs.Length)];
                int first = r.Next(RunBlocks);
                int count = r.Next(1, RunBlocks - first + 1);
                byte[] data = BlockModel.Stamped(run + first, count, id, seq);
                array.WriteAsync((run + first) * Block, data).AsTask().GetAwaiter().GetResult(); // one failure must never fail a write
                model.Acknowledged(run + first, data);
                if (failed.IsSet) Interlocked.Increment(ref writesAfterFailure);
                if (Interlocked.Increment(ref acknowledged) == Writers * writesPerWriter / 3)
                {
                    // A third of the writes are done and the other writers are in the middle of theirs.
                    failedAt = (int)Interlocked.Read(ref acknowledged);
                    array.FailDisk(failing);
                    failed.Set();
                }

                if (seq % 4 == 0)
                {
                    long check = runs[r.Next(runs.Length)];
                    var back = new byte[RunBlocks * Block];
                    array.ReadAsync(check * Block, back).AsTask().GetAwaiter().GetResult();
                    Assert.Null(model.Mismatch(check, back));
                    Interlocked.Increment(ref readsChecked);
                }
            }
        }, Limit);

        output.WriteLine($"disk {failing} failed after {failedAt} acknowledged writes; {writesAfterFailure} writes and {readsChecked} checked reads in all");
        Assert.True(writesAfterFailure > 100, "the failure came too late to overlap the writes");

        if (spare)
        {
            await array.RebuildCompletion.WaitAsync(Limit);
            Assert.Equal(RaidState.Clean, array.State);
            Assert.Equal(0, array.SpareCount);
            var parity = array.CheckParity();
            Assert.True(parity.IsClean, $"inconsistent stripes after the rebuild: {string.Join(",", parity.InconsistentStripeNumbers)}");
            Assert.Equal(Stripes, parity.StripesChecked);
            Assert.Contains(log, l => l.Contains($"disk {failing}") && l.Contains("failed"));
            Assert.Contains(log, l => l.Contains("rebuild") && l.Contains("finished"));
        }
        else
        {
            Assert.Equal(RaidState.Degraded, array.State);
        }

        var all = new byte[array.Capacity];
        await array.ReadAsync(0, all);
        Assert.Null(model.Mismatch(0, all));
    }

    [Theory]
    [InlineData(true, 21)]
    [InlineData(false, 22)]
    public async Task A_second_disk_failing_during_the_rebuild_fails_the_array_and_no_read_returns_wrong_data(bool spare, int seed)
    {
        var (array, _, spareDisk) = NewArray(4, spare);
        using var _ = array;
        var log = new ConcurrentQueue<string>();
        array.Log += log.Enqueue;
        long blocks = array.Capacity / Block;
        var model = new BlockModel(blocks);
        var owners = new Ownership(blocks, Writers, RunBlocks);
        const int heldStripe = Stripes / 2;
        spareDisk?.HoldWriteAt((long)heldStripe * Chunk); // the rebuild stops inside stripe 32 until released
        long heldFirst = heldStripe * 3L * Chunk / Block, heldEnd = heldFirst + 3L * Chunk / Block;

        long acknowledged = 0, goodReads = 0, opsAfterArrayFailure = 0, refusedReads = 0, refusedWrites = 0;
        var secondFailed = new ManualResetEventSlim(false);
        var stop = new ManualResetEventSlim(false);
        var errors = new ConcurrentQueue<RaidFailedException>();

        Threads.Run(Writers + 1, id =>
        {
            if (id == Writers)
            {
                try
                {
                    WaitFor(() => Interlocked.Read(ref acknowledged) >= 200, "200 acknowledged writes");
                    array.FailDisk(1);
                    if (spareDisk is not null)
                    {
                        Assert.True(spareDisk.Held.Task.Wait(Limit), "the rebuild never reached the held stripe");
                        Assert.Equal(RaidState.Rebuilding, array.State);
                    }
                    long before = Interlocked.Read(ref acknowledged);
                    WaitFor(() => Interlocked.Read(ref acknowledged) >= before + 100, "100 more writes while rebuilding");
                    array.FailDisk(2);
                    secondFailed.Set();
                    Assert.Equal(RaidState.Failed, array.State);
                    spareDisk?.Release();
                    WaitFor(() => Interlocked.Read(ref opsAfterArrayFailure) >= 20 * Writers, "everyone saw the failed array");
                }
                finally
                {
                    spareDisk?.Release();
                    stop.Set();
                }
                return;
            }

            var r = new Random(seed * 100 + id);
            long[] runs = owners.RunsOf(id);
            for (int seq = 1; !stop.IsSet; seq++)
            {
                bool afterFailure = secondFailed.IsSet; // sampled before the operation starts
                long run = runs[r.Next(runs.Length)];
                if (!afterFailure && run + RunBlocks > heldFirst && run < heldEnd) continue; // the held stripe would block this writer
                if (r.Next(3) == 0)
                {
                    var back = new byte[RunBlocks * Block];
                    try
                    {
                        array.ReadAsync(run * Block, back).AsTask().GetAwaiter().GetResult();
                        Assert.False(afterFailure, "a read started after the second failure returned data");
                        Assert.Null(model.Mismatch(run, back)); // never wrong data, silently
                        Interlocked.Increment(ref goodReads);
                    }
                    catch (RaidFailedException e)
                    {
                        errors.Enqueue(e);
                        Interlocked.Increment(ref refusedReads);
                    }
                }
                else
                {
                    int first = r.Next(RunBlocks);
                    int count = r.Next(1, RunBlocks - first + 1);
                    byte[] data = BlockModel.Stamped(run + first, count, id, seq);
                    try
                    {
                        array.WriteAsync((run + first) * Block, data).AsTask().GetAwaiter().GetResult();
                        Assert.False(afterFailure, "a write started after the second failure was acknowledged");
                        model.Acknowledged(run + first, data);
                        Interlocked.Increment(ref acknowledged);
                    }
                    catch (RaidFailedException e)
                    {
                        model.Failed(run + first, data);
                        errors.Enqueue(e);
                        Interlocked.Increment(ref refusedWrites);
                    }
                }
                if (afterFailure) Interlocked.Increment(ref opsAfterArrayFailure);
            }
        }, Limit);

        output.WriteLine($"{goodReads} good reads, {refusedReads} refused reads, {refusedWrites} refused writes, {Interlocked.Read(ref acknowledged)} acknowledged writes");
        Assert.True(goodReads > 50, "too few reads checked against the model before the array failed");
        Assert.True(refusedReads > 0 && refusedWrites > 0);
        Assert.Equal(RaidState.Failed, array.State);
        await array.RebuildCompletion.WaitAsync(Limit); // a superseded rebuild ends, it does not hang or fault

        foreach (var e in errors)
        {
            Assert.Equal("RAID-5 array failed: 2 of 4 members lost", e.Message);
            Assert.Equal(2, e.LostMembers);
            Assert.Equal(4, e.ActiveMembers);
        }
        Assert.Contains(log, l => l.Contains("disk 2 failed: RAID-5 array failed: 2 of 4 members lost"));

        // Every block, every kind of I/O: refused, none answered.
        for (long offset = 0; offset < array.Capacity; offset += Chunk)
        {
            var buffer = new byte[Chunk];
            var error = await Assert.ThrowsAsync<RaidFailedException>(async () => await array.ReadAsync(offset, buffer));
            Assert.Contains("2 of 4 members lost", error.Message);
            Assert.False(buffer.AsSpan().ContainsAnyExcept((byte)0), "a refused read filled the caller's buffer");
        }
        await Assert.ThrowsAsync<RaidFailedException>(async () => await array.WriteAsync(0, new byte[Block]));
        await Assert.ThrowsAsync<RaidFailedException>(async () => await array.FlushAsync());
        array.FailDisk(3); // further failures are recorded, and change nothing
        Assert.Equal(RaidState.Failed, array.State);
        var last = await Assert.ThrowsAsync<RaidFailedException>(async () => await array.ReadAsync(0, new byte[Block]));
        Assert.Equal(3, last.LostMembers);
    }
}
