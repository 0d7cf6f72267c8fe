using System.Text.Json;
using IscsiUp.Cli.Sessions;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// A second portal (issue 15): the session logs in through a relay in front of one portal of a target that has
/// two; when the relay dies, recovery logs in again through a portal SendTargets listed (same portal group, same
/// ISID: the session is reinstated), re-issues what had no status, and the NBD client sees latency, not errors.
/// </summary>
public sealed class PortalFailoverTests
{
    private static readonly RecoveryOptions FastRecovery = new()
    {
        NopInterval = TimeSpan.FromSeconds(1),
        NopTimeout = TimeSpan.FromSeconds(2),
        ReplacementTimeout = TimeSpan.FromSeconds(60),
        FirstRetryDelay = TimeSpan.FromMilliseconds(100),
        MaxRetryDelay = TimeSpan.FromSeconds(1),
    };

    /// <summary>tgtd lists every portal in SendTargets only when its ACL admits by address (ALL); with an initiator-name ACL it lists the one asked.</summary>
    private static Task<TgtdTarget> Tgtd(long size) => TgtdTarget.StartAsync(new TgtdOptions { Size = size, AllowedInitiator = null });

    private static Task<ExternalTool.Result> FioVerifyAsync(string uri, string size) => ExternalTool.RunAsync("fio",
    [
        "--name=failover", "--ioengine=nbd", $"--uri={uri}", "--rw=randwrite", "--bs=4k",
        "--iodepth=16", $"--size={size}", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--randrepeat=0",
    ], TimeSpan.FromMinutes(2));

    [Fact]
    public async Task Tgtd_portal_lost_during_verified_writes_fails_over_to_its_other_portal_without_an_io_error()
    {
        await using var tgtd = await Tgtd(32L << 20);
        await tgtd.AddPortalAsync();
        var relay = new LoopbackRelay(tgtd.Portal) { Record = false };
        await using var session = await RecoveringSession.LoginAsync(relay.Portal, tgtd.LoginOptions(), FastRecovery);
        var log = new List<string>();
        session.Log += line => { lock (log) log.Add(line); };
        var found = new StringWriter();
        await FailoverPortals.AddAsync(session, tgtd.LoginOptions(), null, found, CancellationToken.None);
        // tgtd's SendTargets lists the portal the question came in on (behind the relay: the first one).
        Assert.Equal([relay.Portal, tgtd.Portal], session.Portals);
        Assert.Equal($"iscsi-up: {tgtd.TargetName} can fail over from {relay.Portal} to {tgtd.Portal} (portal group 1)\n", found.ToString());

        var disk = await ScsiDisk.OpenAsync(session, 1);
        string socket = Path.Combine(Path.GetTempPath(), $"iscsi-up-failover-{Guid.NewGuid():N}.sock");
        await using var server = new NbdServer(new NbdExport("lun1", new LunBlockBackend(disk)));
        server.ListenUnix(socket);
        await server.StartAsync();
        try
        {
            var fio = FioVerifyAsync($"nbd+unix:///lun1?socket={socket}", "24M");
            await relay.WaitForInitiatorBytesAsync(1 << 20, TimeSpan.FromSeconds(30)); // fio is writing
            Assert.False(fio.IsCompleted, "fio ended before the portal was lost");
            await relay.DisposeAsync(); // the portal in use disappears for good
            var result = await fio;

            string said;
            lock (log) said = string.Join('\n', log);
            Assert.True(result.ExitCode == 0, $"fio saw errors across the failover:\n{result}\nsession log:\n{said}");
            Assert.DoesNotContain("verify", result.Stderr, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(1, session.Failovers);
            Assert.Equal(tgtd.Portal, session.Portal);
            Assert.Equal([tgtd.Portal, relay.Portal], session.Portals); // the lost portal went to the back
            Assert.Contains($"portal {relay.Portal} unreachable, logged in again through {tgtd.Portal}", said);
        }
        finally
        {
            try { File.Delete(socket); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task The_daemon_fails_over_and_session_shows_the_portal_in_use_and_the_failovers()
    {
        await using var tgtd = await Tgtd(16L << 20);
        var second = await tgtd.AddPortalAsync();
        var relay = new LoopbackRelay(tgtd.Portal) { Record = false };
        bool relayGone = false;
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "failover.sock");
        try
        {
            // The node (at the relay's portal) learns both of tgtd's portals, one discovery at each.
            Assert.Equal(0, (await cli.RunAsync("node", "-T", tgtd.TargetName, "-p", relay.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator)).ExitCode);
            Assert.Equal(0, (await cli.RunAsync("discover", "-p", tgtd.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator)).ExitCode);
            Assert.Equal(0, (await cli.RunAsync("discover", "-p", second.ToString(), "-I", TgtdTarget.DefaultInitiator)).ExitCode);
            var login = await cli.RunAsync("login", "-T", tgtd.TargetName, "-p", relay.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator, "--nbd-unix", socket);
            Assert.True(login.ExitCode == 0, login.ToString());
            await Wait.UntilAsync(() => cli.DaemonLog.Contains("can fail over from"), "the failover portals in the daemon log");

            var fio = FioVerifyAsync($"nbd+unix:///lun1?socket={socket}", "12M");
            // Cut the portal once fio is writing (a fixed delay let a fast run finish first and test nothing).
            await relay.WaitForInitiatorBytesAsync(1 << 20, TimeSpan.FromSeconds(30));
            Assert.False(fio.IsCompleted, "fio ended before the portal was lost");
            await relay.DisposeAsync();
            relayGone = true;
            var result = await fio;

            Assert.True(result.ExitCode == 0, $"fio saw errors across the failover:\n{result}\ndaemon log:\n{cli.DaemonLog}");
            await Wait.UntilAsync(() => cli.DaemonLog.Contains($"portal {relay.Portal} unreachable, logged in again through {tgtd.Portal}"),
                "the failover line in the daemon log");
            string listed = (await cli.RunAsync("session")).Stdout;
            Assert.Equal($"[1] {relay.Portal},1 {tgtd.TargetName} lun 1 nbd+unix:///lun1?socket={socket} 16 MiB LOGGED_IN (through {tgtd.Portal} after 1 failover)\n", listed);
            string shown = (await cli.RunAsync("session", "-P", "1")).Stdout;
            Assert.Contains($"\tCurrent Portal: {tgtd.Portal},1\n\tPersistent Portal: {relay.Portal},1\n", shown);
            Assert.Contains("\t\tFailovers: 1\n", shown);
            var json = JsonDocument.Parse((await cli.RunAsync("session", "--json")).Stdout).RootElement.EnumerateArray().Single();
            Assert.Equal(relay.Portal.ToString(), json.GetProperty("portal").GetString());
            Assert.Equal(tgtd.Portal.ToString(), json.GetProperty("currentPortal").GetString());
            Assert.Equal(1, json.GetProperty("failovers").GetInt32());
            Assert.Equal([tgtd.Portal.ToString(), second.ToString(), relay.Portal.ToString()],
                json.GetProperty("portals").EnumerateArray().Select(p => p.GetString()));
        }
        finally
        {
            if (!relayGone) await relay.DisposeAsync();
            await cli.RunAsync("logout", "--all");
        }
    }

    [Fact]
    public async Task A_lun_added_before_the_portal_is_lost_is_exposed_once_the_session_failed_over()
    {
        await using var tgtd = await Tgtd(8L << 20);
        var second = await tgtd.AddPortalAsync();
        var relay = new LoopbackRelay(tgtd.Portal) { Record = false };
        bool relayGone = false;
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "failover.sock");
        try
        {
            Assert.Equal(0, (await cli.RunAsync("node", "-T", tgtd.TargetName, "-p", relay.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator)).ExitCode);
            Assert.Equal(0, (await cli.RunAsync("discover", "-p", tgtd.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator)).ExitCode);
            Assert.Equal(0, (await cli.RunAsync("discover", "-p", second.ToString(), "-I", TgtdTarget.DefaultInitiator)).ExitCode);
            var login = await cli.RunAsync("login", "-T", tgtd.TargetName, "-p", relay.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator, "--nbd-unix", socket);
            Assert.True(login.ExitCode == 0, login.ToString());
            await Wait.UntilAsync(() => cli.DaemonLog.Contains("can fail over from"), "the failover portals in the daemon log");

            // tgtd reports the new LUN only to the nexus that existed, on its next SCSI command: there is none before
            // the portal goes, so only the rescan after the reconnect can find it.
            string added = Path.Combine(cli.Root, "added-lun2.img");
            File.WriteAllBytes(added, new byte[2L << 20]);
            await tgtd.AdminAsync(CancellationToken.None, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "2", "-b", added);
            await relay.DisposeAsync();
            relayGone = true;

            await Wait.UntilAsync(() => cli.DaemonLog.Contains("LUN 2 was added by the target"), "LUN 2 after the failover", seconds: 60);
            Assert.Contains($"portal {relay.Portal} unreachable, logged in again through {tgtd.Portal}", cli.DaemonLog);
            var list = await ExternalTool.RunAsync("nbdinfo", ["--list", $"nbd+unix://?socket={socket}"]);
            Assert.Contains("export=\"lun2\":", list.Stdout);
            string expected =
                $"[1] {relay.Portal},1 {tgtd.TargetName} lun 1 nbd+unix:///lun1?socket={socket} 8 MiB LOGGED_IN (through {tgtd.Portal} after 1 failover)\n" +
                $"[1] {relay.Portal},1 {tgtd.TargetName} lun 2 nbd+unix:///lun2?socket={socket} 2 MiB LOGGED_IN (through {tgtd.Portal} after 1 failover)\n";
            string listed = "";
            for (var deadline = DateTime.UtcNow.AddSeconds(15); listed != expected && DateTime.UtcNow < deadline; await Task.Delay(100))
                listed = (await cli.RunAsync("session")).Stdout; // the record follows the log line
            Assert.Equal(expected, listed);
        }
        finally
        {
            if (!relayGone) await relay.DisposeAsync();
            await cli.RunAsync("logout", "--all");
        }
    }

    [Fact]
    public async Task Discoveries_at_each_portal_add_up_in_the_node_record()
    {
        await using var tgtd = await Tgtd(8L << 20);
        var second = await tgtd.AddPortalAsync();
        using var cli = new CliRun();
        Assert.Equal(0, (await cli.RunAsync("node", "-T", tgtd.TargetName, "-p", tgtd.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator, "--lun", "1")).ExitCode);

        var discover = await cli.RunAsync("discover", "-p", tgtd.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator);
        var again = await cli.RunAsync("discover", "-p", second.ToString(), "-I", TgtdTarget.DefaultInitiator);

        Assert.True(discover.ExitCode == 0, discover.ToString());
        Assert.Equal("", discover.Stderr);
        Assert.Equal($"{second},1 {tgtd.TargetName}\n", again.Stdout);
        string record = File.ReadAllText(Directory.GetFiles(Path.Combine(cli.ConfigDir, "nodes"), "*.node").Single());
        Assert.Contains($"\nnode.portals={tgtd.Portal},1 {second},1\n", record);
        var json = JsonDocument.Parse((await cli.RunAsync("node", "--json")).Stdout).RootElement.EnumerateArray().Single();
        Assert.Equal([$"{tgtd.Portal},1", $"{second},1"], json.GetProperty("portals").EnumerateArray().Select(p => p.GetString()));
    }

    [Fact]
    public async Task The_bundled_target_with_two_portals_takes_the_session_back_through_the_other_one()
    {
        var array = IscsiUp.TestTarget.Storage.Raid5Array.CreateInMemory(3, 1, 4L << 20, 64 * 1024);
        int port = DiscoverCommandTests.FreePort(), other = DiscoverCommandTests.FreePort();
        await using var target = new IscsiTarget(new TargetOptions
        {
            TargetName = BundledTarget.TargetName,
            Host = "127.0.0.1",
            Port = port,
            AdditionalPortals = [new IscsiUp.TestTarget.Cli.ListenAddress("127.0.0.1", other)],
            Acl = [BundledTarget.Client],
            Luns = new Dictionary<int, IscsiUp.TestTarget.Storage.IBlockStorage> { [0] = array },
        });
        await target.StartAsync();
        var options = new Initiator.Login.LoginOptions { InitiatorName = BundledTarget.Client, TargetName = BundledTarget.TargetName, Timeout = TimeSpan.FromSeconds(10) };
        var relay = new LoopbackRelay(new Portal("127.0.0.1", other)) { Record = false };
        await using var session = await RecoveringSession.LoginAsync(relay.Portal, options, FastRecovery with { ReplacementTimeout = TimeSpan.FromSeconds(15) });
        var log = new List<string>();
        session.Log += line => { lock (log) log.Add(line); };
        await FailoverPortals.AddAsync(session, options, null, TextWriter.Null, CancellationToken.None);
        // The bundled target lists the portal the question came in on first.
        Assert.Equal([relay.Portal, new Portal("127.0.0.1", other), new Portal("127.0.0.1", port)], session.Portals);
        var disk = await ScsiDisk.OpenAsync(session, 0);
        var data = new byte[64 * 1024];
        Random.Shared.NextBytes(data);
        await disk.WriteAsync(16, data);

        await relay.DisposeAsync();
        var back = new byte[data.Length];
        var read = await Record.ExceptionAsync(async () => await disk.ReadAsync(16, back));
        Assert.True(read is null, $"{read?.Message}\nsession log:\n{string.Join('\n', log)}");

        Assert.Equal(data, back);
        Assert.Equal(1, session.Failovers);
        Assert.Equal(new Portal("127.0.0.1", other), session.Portal);
        array.Dispose();
    }

    [Fact]
    public async Task An_unreachable_portal_is_passed_over_and_goes_to_the_back_with_the_lost_one()
    {
        await using var target = await BundledTarget.StartAsync();
        var real = Portal.Parse(target.Portal);
        var closed = new Portal("127.0.0.1", DiscoverCommandTests.FreePort()); // nothing listens there
        var options = new Initiator.Login.LoginOptions { InitiatorName = BundledTarget.Client, TargetName = BundledTarget.TargetName, Timeout = TimeSpan.FromSeconds(10) };
        var relay = new LoopbackRelay(real) { Record = false };
        await using var session = await RecoveringSession.LoginAsync(relay.Portal, options, FastRecovery with { ReplacementTimeout = TimeSpan.FromSeconds(15) });
        var log = new List<string>();
        session.Log += line => { lock (log) log.Add(line); };
        session.AddPortals([closed, real, closed]);
        Assert.Equal([relay.Portal, closed, real], session.Portals);
        var disk = await ScsiDisk.OpenAsync(session, 0);

        await relay.DisposeAsync();
        var read = await Record.ExceptionAsync(async () => await disk.ReadAsync(0, new byte[4096]));

        Assert.True(read is null, $"{read?.Message}\nsession log:\n{string.Join('\n', log)}");
        Assert.Equal([real, relay.Portal, closed], session.Portals);
        Assert.Equal(1, session.Failovers);
        Assert.Contains($"portal {relay.Portal} unreachable, logged in again through {real}", log);
    }

    [Fact]
    public void Session_details_name_the_portal_in_use_the_one_logged_in_at_and_the_failovers()
    {
        var details = new SessionDetails
        {
            Id = 1, Target = "iqn.2026-11.example:disk", Portal = "127.0.0.1:3260", GroupTag = 1, Initiator = "iqn.2026-11.example:client",
            State = SessionRecord.LoggedIn, Lun = 0, Device = "/dev/nbd0", CapacityBytes = 1 << 20, Pid = 1,
            ConnectionState = "LOGGED IN", Recoveries = 2, CurrentPortal = "127.0.0.1:3261", Failovers = 1,
            Portals = ["127.0.0.1:3261", "127.0.0.1:3262", "127.0.0.1:3260"],
        };

        Assert.Equal(
            "Target: iqn.2026-11.example:disk\n" +
            "\tCurrent Portal: 127.0.0.1:3261,1\n" +
            "\tPersistent Portal: 127.0.0.1:3260,1\n" +
            "\t\tIface Initiatorname: iqn.2026-11.example:client\n" +
            "\t\tSID: 1\n" +
            "\t\tiSCSI Connection State: LOGGED IN\n" +
            "\t\tiSCSI Session State: LOGGED_IN\n" +
            "\t\tRecoveries: 2\n" +
            "\t\tFailovers: 1\n" +
            "\t\tFailover Portals: 127.0.0.1:3262, 127.0.0.1:3260\n", details.Format(1));
    }
}
