using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using IscsiUp.Initiator.Discovery;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Peers;

/// <summary>
/// The initiator against a real tgtd: discovery, login, SCSI I/O with many commands in flight under several
/// negotiated parameter sets, login failures, ping, logout and a target that dies. Data is checked in tgtd's
/// backing file, not only by reading it back through the initiator.
/// </summary>
public sealed class TgtdInitiatorTests(TgtdFixture fixture) : IClassFixture<TgtdFixture>
{
    private const int Block = 512;
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(45);
    private TgtdTarget Target => fixture.Target;

    [Fact]
    public async Task SendTargets_lists_the_target_with_its_portal_and_group_tag()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var options = new LoginOptions { InitiatorName = TgtdTarget.DefaultInitiator, Timeout = TimeSpan.FromSeconds(10) };

        var targets = await SendTargets.DiscoverAsync(Target.Portal, options, cts.Token);

        var target = Assert.Single(targets);
        Assert.Equal(Target.TargetName, target.Name);
        var portal = Assert.Single(target.Portals);
        Assert.Equal(new Portal("127.0.0.1", Target.Port), portal.Portal);
        Assert.Equal(1, portal.GroupTag);
        Assert.Equal($"127.0.0.1:{Target.Port},1", portal.ToString());
    }

    [Fact]
    public async Task Login_reports_luns_and_opens_lun_1_with_the_backing_file_capacity()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        await using var session = await IscsiSession.LoginAsync(Target.Portal, Target.LoginOptions(), cts.Token);
        Assert.Equal(1, session.Parameters.TargetPortalGroupTag);

        var luns = await ScsiDisk.ReportLunsAsync(session, cts.Token);
        Assert.Equal([0, 1], luns.Order().ToArray());

        var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);
        Assert.Equal(Block, disk.BlockSize);
        Assert.Equal(new FileInfo(Target.BackingFile).Length, disk.CapacityBytes);
        Assert.Equal((ulong)(Target.Options.Size / Block), disk.Capacity.BlockCount);
        Assert.Equal(InquiryData.DirectAccessBlockDevice, disk.Inquiry.DeviceType);

        // LUN 0 is tgtd's controller LUN: probing works, opening it as a disk says what it is.
        var controller = await ScsiDisk.ProbeAsync(session, 0, cts.Token);
        Assert.Equal(0x0C, controller.DeviceType);
        var error = await Assert.ThrowsAsync<IOException>(() => ScsiDisk.OpenAsync(session, 0, cts.Token));
        Assert.Contains("not a disk", error.Message);
    }

    [Fact]
    public async Task Concurrent_writes_land_in_the_backing_file_and_read_back()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        await using var session = await IscsiSession.LoginAsync(Target.Portal, Target.LoginOptions(), cts.Token);
        var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);

        var rng = new Random(20261101);
        var writes = new List<(ulong Lba, byte[] Data)>();
        for (int i = 0; i < 64; i++) writes.Add(((ulong)(8 + i * 256), Bytes(rng, 64 * 1024)));   // 64 KiB every 128 KiB
        foreach (ulong lba in new ulong[] { 20_000, 40_001, 100_000 }) writes.Add((lba, Bytes(rng, 1024 * 1024)));
        writes.Add(((ulong)(disk.Capacity.BlockCount - 3), Bytes(rng, 3 * Block))); // the last blocks of the LUN

        await RoundTripAsync(disk, writes, cts.Token);
        AssertBackingFileHolds(Target, writes);

        // Nothing landed between the writes.
        Assert.All(Target.ReadBacking(0, 8 * Block), b => Assert.Equal(0, b));
        Assert.All(Target.ReadBacking((8 + 128) * Block, 128 * Block), b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Header_and_data_digests_carry_the_data_and_follow_each_sides_choice()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        await using var target = await TgtdTarget.StartAsync(new TgtdOptions
        {
            Size = 16L * 1024 * 1024,
            Parameters = [new("HeaderDigest", "CRC32C,None"), new("DataDigest", "CRC32C,None")],
        }, cts.Token);

        var require = target.LoginOptions() with { HeaderDigest = DigestMode.Require, DataDigest = DigestMode.Require };
        await using (var session = await IscsiSession.LoginAsync(target.Portal, require, cts.Token))
        {
            Assert.True(session.Parameters.HeaderDigest);
            Assert.True(session.Parameters.DataDigest);

            var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);
            var rng = new Random(7);
            var writes = Enumerable.Range(0, 24).Select(i => ((ulong)(i * 300 + 1), Bytes(rng, 64 * 1024 + (i % 3) * Block))).ToList();
            writes.Add((10_000, Bytes(rng, 1024 * 1024)));
            await RoundTripAsync(disk, writes, cts.Token);
            AssertBackingFileHolds(target, writes);
            await session.PingAsync(cts.Token);
        }

        // Prefer offers CRC32C first, so a target that allows both takes it; None stays None.
        var prefer = target.LoginOptions() with { HeaderDigest = DigestMode.Prefer, DataDigest = DigestMode.None };
        await using (var session = await IscsiSession.LoginAsync(target.Portal, prefer, cts.Token))
        {
            Assert.True(session.Parameters.HeaderDigest);
            Assert.False(session.Parameters.DataDigest);
            var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);
            var buffer = new byte[1024 * 1024];
            await disk.ReadAsync(10_000, buffer, cts.Token);
            AssertBytes(target.ReadBacking(10_000L * Block, buffer.Length), buffer, "read with header digest only");
        }
    }

    [Fact]
    public async Task Writes_to_a_target_that_takes_8_KiB_pdus_and_r2t_bursts_land_whole_with_digests()
    {
        // The RFC's defaults, tgtd's own and many arrays': Data-Out PDUs of 8 KiB, every burst after the first asked for by
        // an R2T. A 1 MiB write is then 128 PDUs in 4 KiB-aligned and odd offsets, queued and sent by reference.
        using var cts = new CancellationTokenSource(TestTimeout);
        await using var target = await TgtdTarget.StartAsync(new TgtdOptions
        {
            Size = 16L * 1024 * 1024,
            Parameters =
            [
                new("MaxRecvDataSegmentLength", "8192"), new("InitialR2T", "Yes"), new("FirstBurstLength", "65536"),
                new("MaxBurstLength", "262144"), new("HeaderDigest", "CRC32C,None"), new("DataDigest", "CRC32C,None"),
            ],
        }, cts.Token);

        var require = target.LoginOptions() with { HeaderDigest = DigestMode.Require, DataDigest = DigestMode.Require };
        await using var session = await IscsiSession.LoginAsync(target.Portal, require, cts.Token);
        Assert.Equal(8192, session.Parameters.TargetMaxRecvDataSegmentLength);
        Assert.True(session.Parameters.InitialR2T);

        var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);
        var rng = new Random(11);
        var writes = new List<(ulong, byte[])> { (0, Bytes(rng, 1024 * 1024)), (5_000, Bytes(rng, 40 * 1024 + 3 * Block)), (9_001, Bytes(rng, 3 * Block)) };
        await RoundTripAsync(disk, writes, cts.Token);
        AssertBackingFileHolds(target, writes);
    }

    [Fact]
    public async Task Required_digest_that_tgtd_does_not_allow_fails_the_login()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        // The shared tgtd keeps its default digest setting (None).
        var require = Target.LoginOptions() with { DataDigest = DigestMode.Require };
        var error = await Assert.ThrowsAnyAsync<LoginException>(() => IscsiSession.LoginAsync(Target.Portal, require, cts.Token));
        Assert.Contains("DataDigest", error.Message);
    }

    [Theory]
    // InitialR2T, ImmediateData, target MaxRecvDataSegmentLength, MaxBurstLength, FirstBurstLength
    [InlineData(false, false, 262144, 65536, 65536)]  // unsolicited Data-Out, then R2Ts of 64 KiB
    [InlineData(false, true, 262144, 65536, 65536)]   // immediate data, then R2Ts
    [InlineData(true, false, 262144, 65536, 65536)]   // everything solicited by R2T
    [InlineData(true, true, 4096, 262144, 65536)]     // small PDUs: 4 KiB immediate data, 4 KiB Data-Outs
    [InlineData(false, true, 8192, 16384, 16384)]     // unsolicited burst split into several Data-Outs
    public async Task Writes_land_under_negotiated_burst_limits(bool initialR2T, bool immediateData, int maxRecv, int maxBurst, int firstBurst)
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        await using var target = await TgtdTarget.StartAsync(new TgtdOptions
        {
            Size = 16L * 1024 * 1024,
            Parameters =
            [
                new("InitialR2T", initialR2T ? "Yes" : "No"),
                new("ImmediateData", immediateData ? "Yes" : "No"),
                new("MaxRecvDataSegmentLength", maxRecv.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("MaxBurstLength", maxBurst.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("FirstBurstLength", firstBurst.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ],
        }, cts.Token);
        await using var session = await IscsiSession.LoginAsync(target.Portal, target.LoginOptions(), cts.Token);
        var p = session.Parameters;
        Assert.Equal(initialR2T, p.InitialR2T);          // we offer No: the OR gives tgtd's value
        Assert.Equal(immediateData, p.ImmediateData);    // we offer Yes: the AND gives tgtd's value
        Assert.Equal(maxRecv, p.TargetMaxRecvDataSegmentLength);
        Assert.Equal(maxBurst, p.MaxBurstLength);
        Assert.Equal(firstBurst, p.FirstBurstLength);

        var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);
        var rng = new Random(maxRecv ^ maxBurst);
        var writes = new List<(ulong Lba, byte[] Data)>
        {
            (2048, Bytes(rng, 1024 * 1024)),
            (7, Bytes(rng, 3 * Block)),
            (9001, Bytes(rng, 65536 + Block)),
            (13_000, Bytes(rng, firstBurst - Block)),
            (14_000, Bytes(rng, firstBurst)),
            (15_000, Bytes(rng, firstBurst + Block)),
        };
        for (int i = 0; i < 8; i++) writes.Add(((ulong)(16_000 + i * 600), Bytes(rng, 256 * 1024)));
        await RoundTripAsync(disk, writes, cts.Token);
        AssertBackingFileHolds(target, writes);
    }

    [Fact]
    public async Task Initiator_not_in_the_acl_is_refused_and_sees_no_targets()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        const string stranger = "iqn.2026-11.test.iscsi-up:stranger";

        var error = await Assert.ThrowsAsync<LoginException>(() => IscsiSession.LoginAsync(Target.Portal, Target.LoginOptions(stranger), cts.Token));

        // tgtd hides targets from initiators its ACL does not admit: it answers "not found" (0x0203), never
        // "authorization failure" (0x0202), both for the address ACL and the initiator-name ACL.
        Assert.Equal(LoginStatus.NotFound, error.Status);
        Assert.Contains("target not found", error.Message);
        Assert.Contains(Target.TargetName, error.Message);

        var discovery = new LoginOptions { InitiatorName = stranger, Timeout = TimeSpan.FromSeconds(10) };
        Assert.Empty(await SendTargets.DiscoverAsync(Target.Portal, discovery, cts.Token));
    }

    [Fact]
    public async Task Unknown_target_name_is_reported_as_not_found()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        const string missing = "iqn.2026-11.test.iscsi-up:no-such-target";

        var error = await Assert.ThrowsAsync<LoginException>(() =>
            IscsiSession.LoginAsync(Target.Portal, Target.LoginOptions() with { TargetName = missing }, cts.Token));

        Assert.Equal(0x0203, error.Status);
        Assert.Contains("target not found", error.Message);
        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public async Task Closed_port_fails_fast_with_connection_refused()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        var started = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<ConnectException>(() =>
            IscsiSession.LoginAsync(new Portal("127.0.0.1", port), Target.LoginOptions(), cts.Token));

        Assert.Contains("connection refused", error.Message);
        Assert.Contains($"127.0.0.1:{port}", error.Message);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task Ping_answers_and_commands_after_logout_fail_with_session_lost()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var session = await IscsiSession.LoginAsync(Target.Portal, Target.LoginOptions(), cts.Token);
        await using (session)
        {
            var disk = await ScsiDisk.OpenAsync(session, 1, cts.Token);
            for (int i = 0; i < 3; i++)
            {
                var rtt = await session.PingAsync(cts.Token);
                Assert.InRange(rtt, TimeSpan.Zero, TimeSpan.FromSeconds(5));
            }
            Assert.Null(session.Failure);

            await session.LogoutAsync(cts.Token);

            Assert.NotNull(session.Failure);
            var cdb = new byte[6]; // TEST UNIT READY
            await Assert.ThrowsAsync<SessionLostException>(async () => await session.ExecuteAsync(new ScsiCommand(disk.LunField, cdb), cts.Token));
            await Assert.ThrowsAsync<SessionLostException>(async () => await disk.ReadAsync(0, new byte[Block], cts.Token));
            await Assert.ThrowsAsync<SessionLostException>(() => session.PingAsync(cts.Token));
            await session.LogoutAsync(cts.Token); // a second logout is harmless
        }
    }

    [Fact]
    public async Task Killing_tgtd_fails_pending_and_later_commands_within_seconds()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var outcome = await KillUnderLoadAsync(cts.Token, writeSize: 64 * 1024, suspendFirst: false, firstBurst: null, new TgtdOptions { Size = 16L * 1024 * 1024 });

        Assert.True(outcome.FailedWithin < TimeSpan.FromSeconds(5), $"commands took {outcome.FailedWithin} to fail");
        // Every in-flight command fails as an I/O error, none hangs or succeeds after the kill. (That each is a
        // SessionLostException is checked by Killing_tgtd_fails_every_command_with_session_lost.)
        Assert.All(outcome.Errors, e => Assert.IsAssignableFrom<IOException>(e));
        Assert.NotNull(outcome.Session.Failure);
        Assert.NotNull(outcome.Lost);

        var after = Stopwatch.StartNew();
        await Assert.ThrowsAsync<SessionLostException>(async () => await outcome.Disk.ReadAsync(0, new byte[Block], cts.Token));
        await Assert.ThrowsAsync<SessionLostException>(async () => await outcome.Disk.WriteAsync(0, new byte[Block], ct: cts.Token));
        await Assert.ThrowsAsync<SessionLostException>(() => outcome.Session.PingAsync(cts.Token));
        Assert.True(after.Elapsed < TimeSpan.FromSeconds(2), $"a command on a dead session took {after.Elapsed}");
        await outcome.Session.DisposeAsync();
    }

    [Fact]
    public async Task Killing_tgtd_fails_every_command_with_session_lost()
    {
        // Whole 1 MiB writes go unsolicited (FirstBurstLength 1 MiB, no R2T), written by ExecuteAsync itself; with tgtd
        // stopped they block in the socket, so the kill lands while ExecuteAsync is writing. Two rounds: the race is
        // won most, not all, of the time.
        for (int round = 0; round < 2; round++)
        {
            using var cts = new CancellationTokenSource(TestTimeout);
            var outcome = await KillUnderLoadAsync(cts.Token, writeSize: 1024 * 1024, suspendFirst: true, firstBurst: 1024 * 1024, new TgtdOptions
            {
                Size = 48L * 1024 * 1024,
                Parameters =
                [
                    new("InitialR2T", "No"), new("MaxRecvDataSegmentLength", "262144"),
                    new("MaxBurstLength", "1048576"), new("FirstBurstLength", "1048576"),
                ],
            });

            Assert.True(outcome.FailedWithin < TimeSpan.FromSeconds(5), $"commands took {outcome.FailedWithin} to fail");
            foreach (var error in outcome.Errors.Append(outcome.Session.Failure!).Append(outcome.Lost!))
                if (error is not SessionLostException) Assert.Fail($"expected SessionLostException, got {error}");
            await outcome.Session.DisposeAsync();
        }
    }

    private sealed record KillOutcome(IscsiSession Session, ScsiDisk Disk, Exception[] Errors, Exception? Lost, TimeSpan FailedWithin);

    /// <summary>
    /// Runs 32 workers of reads and writes against a fresh tgtd, SIGKILLs it (after SIGSTOP when asked, so writes are
    /// blocked at that moment), and collects how each worker ended.
    /// </summary>
    private static async Task<KillOutcome> KillUnderLoadAsync(CancellationToken ct, int writeSize, bool suspendFirst, int? firstBurst, TgtdOptions options)
    {
        await using var target = await TgtdTarget.StartAsync(options, ct);
        var login = target.LoginOptions();
        if (firstBurst is { } burst) login = login with { FirstBurstLength = burst };
        var session = await IscsiSession.LoginAsync(target.Portal, login, ct);
        if (firstBurst is not null) Assert.Equal(firstBurst, session.Parameters.FirstBurstLength);
        var disk = await ScsiDisk.OpenAsync(session, 1, ct);
        Exception? lost = null;
        session.Lost += e => Volatile.Write(ref lost, e);

        int completed = 0;
        async Task<Exception> WorkerAsync(int index)
        {
            var buffer = new byte[index % 2 == 0 ? writeSize : 64 * 1024];
            new Random(index).NextBytes(buffer);
            ulong lba = (ulong)(index * (writeSize / Block));
            try
            {
                while (true)
                {
                    if (index % 2 == 0) await disk.WriteAsync(lba, buffer, ct: ct);
                    else await disk.ReadAsync(lba, buffer, ct);
                    Interlocked.Increment(ref completed);
                }
            }
            catch (Exception e) { return e; }
        }
        var workers = Enumerable.Range(0, 32).Select(i => Task.Run(() => WorkerAsync(i))).ToArray();
        var deadline = Stopwatch.StartNew();
        while (Volatile.Read(ref completed) < 100 && deadline.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(5, ct);
        Assert.True(Volatile.Read(ref completed) >= 100, "the I/O load never got going");
        Assert.DoesNotContain(workers, w => w.IsCompleted);
        if (suspendFirst)
        {
            target.Suspend();
            // Wait until nothing completes any more: the socket buffers are full and writers are blocked.
            int before;
            do
            {
                before = Volatile.Read(ref completed);
                await Task.Delay(200, ct);
            } while (Volatile.Read(ref completed) != before && deadline.Elapsed < TimeSpan.FromSeconds(20));
        }

        var killed = Stopwatch.StartNew();
        await target.KillAsync();
        var errors = await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(10), ct);
        var failedWithin = killed.Elapsed;
        return new KillOutcome(session, disk, errors, Volatile.Read(ref lost), failedWithin);
    }

    internal static byte[] Bytes(Random rng, int length)
    {
        var data = new byte[length];
        rng.NextBytes(data);
        return data;
    }

    /// <summary>Writes all extents at once, reads them all back at once, compares, then SYNCHRONIZE CACHE.</summary>
    private static async Task RoundTripAsync(ScsiDisk disk, IReadOnlyList<(ulong Lba, byte[] Data)> writes, CancellationToken ct)
    {
        await Task.WhenAll(writes.Select(w => disk.WriteAsync(w.Lba, w.Data, ct: ct).AsTask())).WaitAsync(TimeSpan.FromSeconds(30), ct);
        var buffers = writes.Select(w => new byte[w.Data.Length]).ToArray();
        await Task.WhenAll(writes.Select((w, i) => disk.ReadAsync(w.Lba, buffers[i], ct).AsTask())).WaitAsync(TimeSpan.FromSeconds(30), ct);
        for (int i = 0; i < writes.Count; i++) AssertBytes(writes[i].Data, buffers[i], $"read back of LBA {writes[i].Lba}");
        await disk.SynchronizeCacheAsync(ct);
    }

    private static void AssertBackingFileHolds(TgtdTarget target, IEnumerable<(ulong Lba, byte[] Data)> writes)
    {
        foreach (var (lba, data) in writes)
            AssertBytes(data, target.ReadBacking((long)lba * Block, data.Length), $"backing file at LBA {lba}");
    }

    internal static void AssertBytes(byte[] expected, byte[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int mismatch = expected.AsSpan().CommonPrefixLength(actual);
        if (mismatch != expected.Length)
            Assert.Fail($"{what}: first difference at byte {mismatch} of {expected.Length} (expected 0x{expected[mismatch]:x2}, got 0x{actual[mismatch]:x2})");
    }
}
