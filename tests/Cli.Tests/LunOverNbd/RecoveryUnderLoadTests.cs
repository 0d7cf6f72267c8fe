using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// Faults under load, end to end: fio (a real NBD client) writes with verification through our NBD server and
/// a recovering iSCSI session to a real tgtd, while the target is killed and restarted or the connection is
/// cut. fio sees latency, not errors, and what it reads back (from tgtd's file) is what it wrote.
/// </summary>
public sealed class RecoveryUnderLoadTests
{
    private static readonly RecoveryOptions FastRecovery = new()
    {
        NopInterval = TimeSpan.FromSeconds(1),
        NopTimeout = TimeSpan.FromSeconds(2),
        ReplacementTimeout = TimeSpan.FromSeconds(60),
        FirstRetryDelay = TimeSpan.FromMilliseconds(100),
        MaxRetryDelay = TimeSpan.FromSeconds(1),
    };

    private sealed class Stack : IAsyncDisposable
    {
        public required RecoveringSession Session { get; init; }
        public required NbdServer Server { get; init; }
        public required string Socket { get; init; }
        public List<string> Log { get; } = [];

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await Session.DisposeAsync();
            try { File.Delete(Socket); } catch (IOException) { }
        }
    }

    private static async Task<Stack> ServeAsync(Portal portal, TgtdTarget target)
    {
        var session = await RecoveringSession.LoginAsync(portal, target.LoginOptions(), FastRecovery);
        var disk = await ScsiDisk.OpenAsync(session, 1);
        string socket = Path.Combine(Path.GetTempPath(), $"iscsi-up-recovery-{Guid.NewGuid():N}.sock");
        var server = new NbdServer(new NbdExport("lun1", new LunBlockBackend(disk)));
        server.ListenUnix(socket);
        await server.StartAsync();
        var stack = new Stack { Session = session, Server = server, Socket = socket };
        session.Log += line => { lock (stack.Log) stack.Log.Add(line); };
        return stack;
    }

    private static Task<ExternalTool.Result> FioVerifyAsync(string socket, string size) => ExternalTool.RunAsync("fio",
    [
        "--name=verify", "--ioengine=nbd", $"--uri=nbd+unix:///lun1?socket={socket}", "--rw=randwrite", "--bs=4k",
        "--iodepth=16", $"--size={size}", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--randrepeat=0",
    ], TimeSpan.FromMinutes(3));

    [Fact]
    public async Task Target_restarts_during_verified_writes_lose_nothing()
    {
        await using var target = await TgtdTarget.StartAsync();
        await using var stack = await ServeAsync(target.Portal, target);

        var fio = FioVerifyAsync(stack.Socket, "24M");
        for (int restart = 0; restart < 2 && !fio.IsCompleted; restart++)
        {
            await Task.Delay(400);
            await target.RestartAsync(TimeSpan.FromMilliseconds(700));
        }
        var result = await fio;

        Assert.True(result.ExitCode == 0, $"fio saw errors across target restarts:\n{result}\nsession log:\n{string.Join('\n', stack.Log)}");
        Assert.DoesNotContain("verify", result.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.True(stack.Session.Reconnects >= 1, $"the session never reconnected (fio finished too early?)\n{string.Join('\n', stack.Log)}");
    }

    [Fact]
    public async Task Cut_connections_during_verified_writes_lose_nothing()
    {
        await using var target = await TgtdTarget.StartAsync();
        await using var relay = new LoopbackRelay(target.Portal) { Record = false };
        await using var stack = await ServeAsync(relay.Portal, target);

        var fio = FioVerifyAsync(stack.Socket, "24M");
        for (int cut = 0; cut < 3 && !fio.IsCompleted; cut++)
        {
            // Each cut once another MiB has flowed: a fixed delay let a fast run end before the first cut.
            await Task.WhenAny(relay.WaitForInitiatorBytesAsync(1 << 20, TimeSpan.FromSeconds(30)), fio);
            if (fio.IsCompleted) break;
            relay.CutConnections();
        }
        var result = await fio;

        Assert.True(result.ExitCode == 0, $"fio saw errors across connection cuts:\n{result}\nsession log:\n{string.Join('\n', stack.Log)}");
        Assert.True(stack.Session.Reconnects >= 1, $"the session never reconnected\n{string.Join('\n', stack.Log)}");
    }

    [Fact]
    public async Task A_target_that_stays_down_fails_commands_after_the_replacement_timeout_instead_of_hanging()
    {
        await using var target = await TgtdTarget.StartAsync();
        var options = FastRecovery with { ReplacementTimeout = TimeSpan.FromSeconds(3) };
        await using var session = await RecoveringSession.LoginAsync(target.Portal, target.LoginOptions(), options);
        var disk = await ScsiDisk.OpenAsync(session, 1);
        await target.KillAsync();

        var started = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<SessionLostException>(async () => await disk.ReadAsync(0, new byte[4096]));

        Assert.Contains("replacement timeout", error.Message);
        Assert.InRange(started.Elapsed.TotalSeconds, 2, 20);
    }

    [Fact]
    public async Task A_silent_target_is_detected_by_nop_out_and_the_session_recovers()
    {
        await using var target = await TgtdTarget.StartAsync();
        await using var relay = new LoopbackRelay(target.Portal) { Record = false };
        await using var session = await RecoveringSession.LoginAsync(relay.Portal, target.LoginOptions(), FastRecovery);
        var disk = await ScsiDisk.OpenAsync(session, 1);
        var data = new byte[64 * 1024];
        Random.Shared.NextBytes(data);

        // Stop tgtd (it keeps its sockets but answers nothing), then let it run again after the pings notice.
        target.Suspend();
        await Task.Delay(TimeSpan.FromSeconds(4));
        target.Resume();
        await disk.WriteAsync(8, data);
        var back = new byte[data.Length];
        await disk.ReadAsync(8, back);

        Assert.Equal(data, back);
        Assert.Equal(data, target.ReadBacking(8 * 512, data.Length));
    }
}

/// <summary>The same fault, with the bundled target restarting over its RAID-5 array (which keeps the bytes).</summary>
public sealed class BundledTargetRestartTests
{
    [Fact]
    public async Task Bundled_target_restarts_during_verified_writes_lose_nothing()
    {
        const string name = "iqn.2026-11.org.iscsi-up.test:restart";
        const string client = "iqn.2026-11.org.iscsi-up.test:client";
        using var array = IscsiUp.TestTarget.Storage.Raid5Array.CreateInMemory(3, 1, 32L << 20, 64 * 1024);
        TargetOptions Options(int port) => new()
        {
            TargetName = name, Host = "127.0.0.1", Port = port, Acl = [client],
            Luns = new Dictionary<int, IscsiUp.TestTarget.Storage.IBlockStorage> { [0] = array },
        };
        var target = new IscsiTarget(Options(0));
        await target.StartAsync();
        int port = target.Port;
        var recovery = new RecoveryOptions
        {
            NopInterval = TimeSpan.FromSeconds(1), NopTimeout = TimeSpan.FromSeconds(2),
            FirstRetryDelay = TimeSpan.FromMilliseconds(100), MaxRetryDelay = TimeSpan.FromSeconds(1),
        };
        await using var session = await RecoveringSession.LoginAsync(new Portal("127.0.0.1", port),
            new IscsiUp.Initiator.Login.LoginOptions { InitiatorName = client, TargetName = name }, recovery);
        var disk = await ScsiDisk.OpenAsync(session, 0);
        string socket = Path.Combine(Path.GetTempPath(), $"iscsi-up-restart-{Guid.NewGuid():N}.sock");
        await using var server = new NbdServer(new NbdExport("lun0", new LunBlockBackend(disk)));
        server.ListenUnix(socket);
        await server.StartAsync();
        try
        {
            var fio = ExternalTool.RunAsync("fio",
            [
                "--name=verify", "--ioengine=nbd", $"--uri=nbd+unix:///lun0?socket={socket}", "--rw=randwrite", "--bs=4k",
                "--iodepth=16", "--size=16M", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1",
            ], TimeSpan.FromMinutes(3));
            await Task.Delay(300);
            await target.StopAsync();
            await Task.Delay(500);
            target = new IscsiTarget(Options(port));
            await target.StartAsync();
            var result = await fio;

            Assert.True(result.ExitCode == 0, $"fio saw errors across a target restart:\n{result}");
            Assert.True(session.Reconnects >= 1, "the session never reconnected");
            Assert.True(array.CheckParity().IsClean, "RAID-5 parity is inconsistent after the restart");
        }
        finally
        {
            await target.DisposeAsync();
            try { File.Delete(socket); } catch (IOException) { }
        }
    }
}
