using System.Collections.Concurrent;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Iscsi.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;
using IscsiUp.TestTarget.Tests.Storage;
using Xunit.Abstractions;

namespace IscsiUp.TestTarget.Tests.Faults;

/// <summary>
/// The same faults seen from the other end of the wire: the in-process target serving a RAID-5 array to this
/// project's initiator, with many SCSI commands in flight when members fail. Acknowledged writes survive one
/// failure; once the array is lost, READs end in CHECK CONDITION / MEDIUM ERROR instead of returning data, and the
/// session itself stays up.
/// </summary>
public sealed class IscsiRaidFaultTests(ITestOutputHelper output)
{
    private const int Block = BlockModel.Block;
    private const int Chunk = 16 * 1024;
    private const int Stripes = 48;
    private const long DiskSize = (long)Stripes * Chunk;
    private const int Writers = 24;
    private const int RunBlocks = 16;
    private const string TargetName = "iqn.2025-01.org.iscsi-up.test:raid-faults";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private sealed class Rig : IAsyncDisposable
    {
        public required Raid5Array Array { get; init; }
        public required FaultDisk Spare { get; init; }
        public required IscsiTarget Target { get; init; }
        public required IscsiSession Session { get; init; }
        public required ScsiDisk Disk { get; init; }
        public ConcurrentQueue<string> Log { get; } = new();

        public async ValueTask DisposeAsync()
        {
            Spare.Release();
            try { await Session.LogoutAsync().WaitAsync(Limit); } catch (Exception) { await Session.DisposeAsync(); }
            await Target.DisposeAsync();
            Array.Dispose();
        }
    }

    private static async Task<Rig> StartAsync()
    {
        var disks = Enumerable.Range(0, 4).Select(_ => new FaultDisk(new MemoryDisk(DiskSize))).ToArray();
        var spare = new FaultDisk(new MemoryDisk(DiskSize), jitter: false);
        var array = new Raid5Array(disks, [spare], Chunk);
        var target = new IscsiTarget(new TargetOptions
        {
            TargetName = TargetName,
            Host = "127.0.0.1",
            Port = 0,
            Luns = new Dictionary<int, IBlockStorage> { [0] = array },
        });
        await target.StartAsync();
        var session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), new LoginOptions
        {
            InitiatorName = "iqn.2025-01.org.iscsi-up.test:raid-client",
            TargetName = TargetName,
            Timeout = TimeSpan.FromSeconds(15),
        });
        var disk = await ScsiDisk.OpenAsync(session, 0);
        var rig = new Rig { Array = array, Spare = spare, Target = target, Session = session, Disk = disk };
        array.Log += rig.Log.Enqueue;
        target.Log += rig.Log.Enqueue;
        Assert.Equal(array.Capacity, disk.CapacityBytes);
        return rig;
    }

    /// <summary>Reads the whole LUN with SCSI READ(16) and checks every block against the model.</summary>
    private static async Task VerifyAllAsync(ScsiDisk disk, BlockModel model)
    {
        const int step = 256 * 1024;
        var buffer = new byte[step];
        for (long offset = 0; offset < disk.CapacityBytes; offset += step)
        {
            int length = (int)Math.Min(step, disk.CapacityBytes - offset);
            await disk.ReadAsync((ulong)(offset / Block), buffer.AsMemory(0, length));
            Assert.Null(model.Mismatch(offset / Block, buffer.AsSpan(0, length)));
        }
    }

    private static void AssertMediumError(ScsiException e, byte asc)
    {
        Assert.Equal(ScsiResult.CheckCondition, e.Status);
        Assert.NotNull(e.Sense);
        Assert.Equal(SenseData.MediumError, e.Sense!.Value.SenseKey);
        Assert.Equal(asc, e.Sense.Value.Asc);
        Assert.Contains("MEDIUM ERROR", e.Message);
    }

    /// <summary>Runs <see cref="Writers"/> concurrent SCSI writers over their own blocks until each did <paramref name="writes"/>; returns the peak number of commands in flight.</summary>
    private static async Task<int> WriteUnderLoadAsync(ScsiDisk disk, BlockModel model, int seed, int writes, Func<long, bool>? avoid, Action<long>? progress)
    {
        var owners = new Ownership(model.Blocks, Writers, RunBlocks);
        int inFlight = 0, peak = 0;
        long acknowledged = 0;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(id => Task.Run(async () =>
        {
            var r = new Random(seed * 1000 + id);
            long[] runs = owners.RunsOf(id);
            for (int seq = 1; seq <= writes; seq++)
            {
                long run = runs[r.Next(runs.Length)];
                if (avoid?.Invoke(run) == true) { seq--; continue; }
                int first = r.Next(RunBlocks);
                int count = r.Next(1, RunBlocks - first + 1);
                byte[] data = BlockModel.Stamped(run + first, count, id, seq);
                int now = Interlocked.Increment(ref inFlight);
                int old;
                while (now > (old = Volatile.Read(ref peak)) && Interlocked.CompareExchange(ref peak, now, old) != old) { }
                try
                {
                    await disk.WriteAsync((ulong)(run + first), data);
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
                model.Acknowledged(run + first, data);
                progress?.Invoke(Interlocked.Increment(ref acknowledged));
            }
        }))).WaitAsync(Limit);
        return peak;
    }

    [Fact]
    public async Task A_disk_failing_under_many_in_flight_writes_loses_nothing_and_a_lost_array_answers_medium_error()
    {
        await using var rig = await StartAsync();
        var model = new BlockModel(rig.Array.Capacity / Block);
        int failedAt = 0;

        int peak = await WriteUnderLoadAsync(rig.Disk, model, seed: 31, writes: 25, avoid: null, progress: count =>
        {
            if (count == 200 && Interlocked.Exchange(ref failedAt, 200) == 0) rig.Array.FailDisk(0); // commands still in flight
        });
        output.WriteLine($"peak {peak} commands in flight; disk 0 failed after {failedAt} acknowledged writes");
        Assert.Equal(200, failedAt);
        Assert.True(peak >= 8, $"only {peak} commands were in flight at once");

        // Every acknowledged write reads back over SCSI, during and after the rebuild.
        await VerifyAllAsync(rig.Disk, model);
        await rig.Array.RebuildCompletion.WaitAsync(Limit);
        Assert.Equal(RaidState.Clean, rig.Array.State);
        var parity = rig.Array.CheckParity();
        Assert.True(parity.IsClean, $"inconsistent stripes: {string.Join(",", parity.InconsistentStripeNumbers)}");
        Assert.Equal(Stripes, parity.StripesChecked);
        await VerifyAllAsync(rig.Disk, model);

        // The spare is used up: the next failure degrades (data still served), the one after loses the array.
        rig.Array.FailDisk(1);
        Assert.Equal(RaidState.Degraded, rig.Array.State);
        await VerifyAllAsync(rig.Disk, model);
        rig.Array.FailDisk(2);
        Assert.Equal(RaidState.Failed, rig.Array.State);

        var buffer = new byte[64 * 1024];
        foreach (ulong lba in new ulong[] { 0, 77, (ulong)(rig.Array.Capacity / Block) - 128 })
        {
            var read = await Assert.ThrowsAsync<ScsiException>(async () => await rig.Disk.ReadAsync(lba, buffer));
            AssertMediumError(read, asc: 0x11); // unrecovered read error
            Assert.False(buffer.AsSpan().ContainsAnyExcept((byte)0), "a failed READ put data in the caller's buffer");
        }
        var write = await Assert.ThrowsAsync<ScsiException>(async () => await rig.Disk.WriteAsync(0, new byte[Block]));
        AssertMediumError(write, asc: 0x0C); // write error
        var flush = await Assert.ThrowsAsync<ScsiException>(async () => await rig.Disk.SynchronizeCacheAsync());
        Assert.Equal(SenseData.MediumError, flush.Sense!.Value.SenseKey);

        // The failures are the LUN's, not the session's.
        Assert.Null(rig.Session.Failure);
        await rig.Disk.TestUnitReadyAsync();
        Assert.Contains(rig.Log, l => l.Contains("RAID-5 array failed"));
    }

    [Fact]
    public async Task A_second_disk_failing_during_the_rebuild_turns_reads_into_check_conditions_never_wrong_data()
    {
        await using var rig = await StartAsync();
        var model = new BlockModel(rig.Array.Capacity / Block);
        const int heldStripe = Stripes / 2;
        long heldFirst = heldStripe * 3L * Chunk / Block, heldEnd = heldFirst + 3L * Chunk / Block;
        bool Touches(long run) => run + RunBlocks > heldFirst && run < heldEnd;
        rig.Spare.HoldWriteAt((long)heldStripe * Chunk);

        // Load, with the first failure in the middle of it; the rebuild then stops inside the held stripe.
        await WriteUnderLoadAsync(rig.Disk, model, seed: 41, writes: 12, avoid: Touches, progress: count =>
        {
            if (count == 100) rig.Array.FailDisk(3);
        });
        await rig.Spare.Held.Task.WaitAsync(Limit);
        Assert.Equal(RaidState.Rebuilding, rig.Array.State);

        // Readers and writers in flight (away from the held stripe, whose lock the rebuild holds) when the second disk goes.
        var stop = new CancellationTokenSource();
        var secondFailed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long goodReads = 0, failedReads = 0, failedWrites = 0, afterFailure = 0;
        var owners = new Ownership(model.Blocks, Writers, RunBlocks);
        var workers = Enumerable.Range(0, Writers).Select(id => Task.Run(async () =>
        {
            var r = new Random(4200 + id);
            long[] runs = owners.RunsOf(id);
            var buffer = new byte[RunBlocks * Block];
            for (int seq = 1000; !stop.IsCancellationRequested; seq++)
            {
                long run = runs[r.Next(runs.Length)];
                if (Touches(run)) continue;
                bool late = secondFailed.Task.IsCompleted; // sampled before the command is sent
                if (r.Next(2) == 0)
                {
                    Array.Clear(buffer);
                    try
                    {
                        await rig.Disk.ReadAsync((ulong)run, buffer);
                        Assert.False(late, "a READ sent after the array failed returned data");
                        Assert.Null(model.Mismatch(run, buffer));
                        Interlocked.Increment(ref goodReads);
                    }
                    catch (ScsiException e)
                    {
                        AssertMediumError(e, asc: 0x11);
                        Interlocked.Increment(ref failedReads);
                    }
                }
                else
                {
                    int first = r.Next(RunBlocks);
                    int count = r.Next(1, RunBlocks - first + 1);
                    byte[] data = BlockModel.Stamped(run + first, count, id, seq);
                    try
                    {
                        await rig.Disk.WriteAsync((ulong)(run + first), data);
                        Assert.False(late, "a WRITE sent after the array failed was acknowledged");
                        model.Acknowledged(run + first, data);
                    }
                    catch (ScsiException e)
                    {
                        AssertMediumError(e, asc: 0x0C);
                        model.Failed(run + first, data);
                        Interlocked.Increment(ref failedWrites);
                    }
                }
                if (late && Interlocked.Increment(ref afterFailure) >= 10 * Writers) stop.Cancel();
            }
        })).ToArray();

        // Reads must be completing while rebuilding before the second disk goes. Wait for them rather than for a
        // fixed time: a busy CI machine once needed more than 200 ms for the first one.
        await StorageTestData.WaitUntilAsync(
            () => Interlocked.Read(ref goodReads) >= Writers || workers.Any(w => w.IsCompleted), $"{Writers} reads complete while rebuilding");
        if (workers.FirstOrDefault(w => w.IsCompleted) is { } ended) await ended; // a worker ends early only by failing: show why
        rig.Array.FailDisk(0);
        secondFailed.SetResult();
        rig.Spare.Release();
        var all = Task.WhenAll(workers);
        try { await all.WaitAsync(Limit); }
        finally { stop.Cancel(); }

        output.WriteLine($"{goodReads} good reads, {failedReads} failed reads, {failedWrites} failed writes");
        Assert.Equal(RaidState.Failed, rig.Array.State);
        Assert.True(failedReads > 0 && failedWrites > 0);
        await rig.Array.RebuildCompletion.WaitAsync(Limit);

        // Now every READ of every part of the LUN is refused with sense data, and the session carries on.
        var buffer = new byte[256 * 1024];
        for (long offset = 0; offset < rig.Disk.CapacityBytes; offset += buffer.Length)
        {
            var e = await Assert.ThrowsAsync<ScsiException>(async () => await rig.Disk.ReadAsync((ulong)(offset / Block), buffer));
            AssertMediumError(e, asc: 0x11);
        }
        Assert.False(buffer.AsSpan().ContainsAnyExcept((byte)0), "a failed READ put data in the caller's buffer");
        Assert.Null(rig.Session.Failure);
    }
}
