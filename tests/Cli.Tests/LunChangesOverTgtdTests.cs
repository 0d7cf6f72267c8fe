using IscsiUp.Cli.Tests.Support;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// A real tgtd target deletes and creates LUNs (tgtadm) while we are logged in: tgtd reports REPORTED LUNS DATA
/// HAS CHANGED on the next command, the session rescans, and the NBD socket's exports follow (nbdinfo --list);
/// `iscsi-up rescan` does the same on request, and the record (`iscsi-up session`) follows too.
/// </summary>
public sealed class LunChangesOverTgtdTests
{
    private const long Lun1Size = 8L << 20;
    private const long Lun2Size = 4L << 20;
    private const long Lun3Size = 2L << 20;

    private static Task<TgtdTarget> StartTwoLunTargetAsync() => TgtdTarget.StartAsync(new TgtdOptions { Size = Lun1Size, MoreLunSizes = [Lun2Size] });

    private static string[] Login(TgtdTarget tgtd, params string[] more) =>
        ["login", "-T", tgtd.TargetName, "-p", tgtd.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator, .. more];

    private static async Task<string> ExportsAsync(string socket)
    {
        var list = await ExternalTool.RunAsync("nbdinfo", ["--list", $"nbd+unix://?socket={socket}"]);
        Assert.True(list.ExitCode == 0, list.ToString());
        return list.Stdout;
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what, Func<string> detail, double seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out after {seconds} s waiting for {what}\n{detail()}");
            await Task.Delay(100);
        }
    }

    /// <summary>Reads LUN 1 through its export: a SCSI command, which is what tgtd answers with the unit attention.</summary>
    private static async Task TouchLun1Async(string socket, string directory)
    {
        var copy = await ExternalTool.RunAsync("nbdcopy", [$"nbd+unix:///lun1?socket={socket}", Path.Combine(directory, "touch.copy")]);
        Assert.True(copy.ExitCode == 0, copy.ToString());
    }

    private static string AddBackingFile(TgtdTarget tgtd, string directory, int lun, long size)
    {
        string path = Path.Combine(directory, $"added-lun{lun}.img");
        var bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public async Task Luns_deleted_and_created_by_tgtadm_leave_and_join_the_nbd_socket_after_the_next_command()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "luns.sock");
        var login = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket));
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains("export=\"lun2\":", await ExportsAsync(socket));

        await tgtd.AdminAsync(CancellationToken.None, "--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "2");
        await TouchLun1Async(socket, cli.Root);
        await UntilAsync(async () => !(await ExportsAsync(socket)).Contains("lun2"), "export lun2 to go", () => cli.DaemonLog);

        string added = AddBackingFile(tgtd, cli.Root, 3, Lun3Size);
        await tgtd.AdminAsync(CancellationToken.None, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "3", "-b", added);
        await TouchLun1Async(socket, cli.Root);
        await UntilAsync(async () => (await ExportsAsync(socket)).Contains("export=\"lun3\":"), "export lun3 to come", () => cli.DaemonLog);

        var copy = await ExternalTool.RunAsync("nbdcopy", [$"nbd+unix:///lun3?socket={socket}", Path.Combine(cli.Root, "lun3.copy")]);
        Assert.True(copy.ExitCode == 0, copy.ToString());
        Assert.Equal(File.ReadAllBytes(added), File.ReadAllBytes(Path.Combine(cli.Root, "lun3.copy")));
        Assert.Contains("LUN 2 was removed by the target", cli.DaemonLog);
        Assert.Contains($"LUN 3 was added by the target: IET VIRTUAL-DISK disk, 4096 blocks of 512 bytes (2 MiB), device nbd+unix:///lun3?socket={socket}", cli.DaemonLog);
        Assert.Equal(
            $"[1] {tgtd.Portal},1 {tgtd.TargetName} lun 1 nbd+unix:///lun1?socket={socket} 8 MiB LOGGED_IN\n" +
            $"[1] {tgtd.Portal},1 {tgtd.TargetName} lun 3 nbd+unix:///lun3?socket={socket} 2 MiB LOGGED_IN\n", (await cli.RunAsync("session")).Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task Rescan_follows_tgtadm_at_once_and_says_what_changed()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "luns.sock");
        var login = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket));
        Assert.True(login.ExitCode == 0, login.ToString());
        await using var onLun2 = await RawNbdClient.ConnectUnixAsync(socket); // a client still using LUN 2 when it goes
        await onLun2.StartHandshakeAsync();
        Assert.Equal(NbdConstants.RepAck, (await onLun2.GoAsync("lun2")).Final);

        await tgtd.AdminAsync(CancellationToken.None, "--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "2");
        var removed = await cli.RunAsync("rescan", "-T", tgtd.TargetName);

        Assert.True(removed.ExitCode == 0, removed.ToString());
        Assert.Equal(
            $"Rescanning session [sid: 1, target: {tgtd.TargetName}, portal: {tgtd.Portal},1]\n" +
            $"LUN 2 was removed by the target: nbd+unix:///lun2?socket={socket} is gone\n", removed.Stdout);
        string exports = await ExportsAsync(socket);
        Assert.DoesNotContain("lun2", exports);
        Assert.Contains("export=\"lun1\":", exports);
        await onLun2.SendRequestAsync(NbdConstants.CmdRead, 1, 0, 4096);
        Assert.Equal((5u, 1ul), await onLun2.ReadSimpleReplyAsync()); // EIO, and the connection stays usable to say so
        await TouchLun1Async(socket, cli.Root);

        string added = AddBackingFile(tgtd, cli.Root, 2, Lun3Size);
        await tgtd.AdminAsync(CancellationToken.None, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "2", "-b", added);
        var back = await cli.RunAsync("rescan");

        Assert.True(back.ExitCode == 0, back.ToString());
        Assert.EndsWith($"LUN 2 was added by the target: IET VIRTUAL-DISK disk, 4096 blocks of 512 bytes (2 MiB), device nbd+unix:///lun2?socket={socket}\n", back.Stdout);
        var size = await ExternalTool.RunAsync("nbdinfo", ["--size", $"nbd+unix:///lun2?socket={socket}"]);
        Assert.Equal($"{Lun3Size}\n", size.Stdout);
        var copy = await ExternalTool.RunAsync("nbdcopy", [$"nbd+unix:///lun2?socket={socket}", Path.Combine(cli.Root, "lun2.copy")]);
        Assert.True(copy.ExitCode == 0, copy.ToString());
        Assert.Equal(File.ReadAllBytes(added), File.ReadAllBytes(Path.Combine(cli.Root, "lun2.copy")));
        Assert.Contains($"lun 2 nbd+unix:///lun2?socket={socket} 2 MiB LOGGED_IN", (await cli.RunAsync("session")).Stdout);

        var again = await cli.RunAsync("rescan", "-T", tgtd.TargetName, "-p", tgtd.Portal.ToString());
        Assert.Equal($"Rescanning session [sid: 1, target: {tgtd.TargetName}, portal: {tgtd.Portal},1]\nNo change\n", again.Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task When_the_first_lun_goes_the_record_names_the_others()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "luns.sock");
        Assert.Equal(0, (await cli.RunAsync(Login(tgtd, "--nbd-unix", socket))).ExitCode);

        string added = AddBackingFile(tgtd, cli.Root, 3, Lun3Size);
        await tgtd.AdminAsync(CancellationToken.None, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "3", "-b", added);
        await tgtd.AdminAsync(CancellationToken.None, "--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "1");
        var rescan = await cli.RunAsync("rescan");

        Assert.True(rescan.ExitCode == 0, rescan.ToString());
        Assert.Contains($"LUN 1 was removed by the target: nbd+unix:///lun1?socket={socket} is gone\n", rescan.Stdout);
        Assert.Contains("LUN 3 was added by the target", rescan.Stdout);
        Assert.Equal(
            $"[1] {tgtd.Portal},1 {tgtd.TargetName} lun 2 nbd+unix:///lun2?socket={socket} 4 MiB LOGGED_IN\n" +
            $"[1] {tgtd.Portal},1 {tgtd.TargetName} lun 3 nbd+unix:///lun3?socket={socket} 2 MiB LOGGED_IN\n", (await cli.RunAsync("session")).Stdout);
        string exports = await ExportsAsync(socket);
        Assert.DoesNotContain("lun1", exports);
        Assert.Contains("export=\"lun2\":", exports);
        Assert.Contains("export=\"lun3\":", exports);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task A_login_narrowed_by_lun_adds_only_the_luns_it_named()
    {
        await using var tgtd = await TgtdTarget.StartAsync(new TgtdOptions { Size = Lun1Size });
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "narrowed.sock");
        var login = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket, "--lun", "1"));
        Assert.True(login.ExitCode == 0, login.ToString());

        await tgtd.AdminAsync(CancellationToken.None, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "2", "-b", AddBackingFile(tgtd, cli.Root, 2, Lun3Size));
        var rescan = await cli.RunAsync("rescan");

        Assert.True(rescan.ExitCode == 0, rescan.ToString());
        Assert.EndsWith("No change\n", rescan.Stdout);
        Assert.DoesNotContain("export=\"lun2\"", await ExportsAsync(socket));
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task Luns_removed_and_grown_while_the_connection_was_down_are_followed_after_the_reconnect_not_refused()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        await using var relay = new LoopbackRelay(tgtd.Portal) { Record = false };
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "outage.sock");
        var login = await cli.RunAsync("login", "-T", tgtd.TargetName, "-p", relay.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator, "--nbd-unix", socket);
        Assert.True(login.ExitCode == 0, login.ToString());
        byte[] lun1Before = File.ReadAllBytes(tgtd.BackingFile);

        // tgtd tells a nexus of LUN changes on its next SCSI command, and none comes before the connection goes: the
        // session learns of them only when it logs in again. LUN 1 comes back 4 MiB larger with its serial number
        // (tgtd derives it from target and LUN), LUN 2 does not come back.
        await tgtd.AdminAsync(CancellationToken.None, "--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "2");
        await tgtd.AdminAsync(CancellationToken.None, "--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "1");
        using (var grown = File.OpenWrite(tgtd.BackingFile)) grown.SetLength(Lun1Size + (4L << 20));
        await tgtd.AdminAsync(CancellationToken.None, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", tgtd.BackingFile);
        relay.CutConnections();

        await UntilAsync(async () => !(await ExportsAsync(socket)).Contains("lun2") && cli.DaemonLog.Contains("LUN 1 changed capacity"),
            "the rescan after the reconnect", () => cli.DaemonLog, seconds: 30);
        Assert.DoesNotContain("different disk", cli.DaemonLog);
        Assert.Contains("LUN 2 was removed by the target", cli.DaemonLog);
        Assert.Contains("LUN 1 changed capacity from 8 MiB to 12 MiB (24576 blocks)", cli.DaemonLog);
        var info = await ExternalTool.RunAsync("nbdinfo", ["--size", $"nbd+unix:///lun1?socket={socket}"]);
        Assert.Equal($"{Lun1Size + (4L << 20)}\n", info.Stdout);
        string copied = Path.Combine(cli.Root, "lun1.copy");
        var copy = await ExternalTool.RunAsync("nbdcopy", [$"nbd+unix:///lun1?socket={socket}", copied]);
        Assert.True(copy.ExitCode == 0, copy.ToString());
        Assert.Equal(lun1Before, File.ReadAllBytes(copied).AsSpan(0, lun1Before.Length).ToArray());
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task Rescan_without_a_session_is_a_one_line_error()
    {
        using var cli = new CliRun();

        var none = await cli.RunAsync("rescan");
        var unknown = await cli.RunAsync("rescan", "-T", "iqn.2026-12.test:nothing");

        Assert.Equal(21, none.ExitCode);
        Assert.Equal("iscsi-up: no active sessions", Assert.Single(none.StderrLines));
        Assert.Equal(2, unknown.ExitCode);
        Assert.Equal("iscsi-up: no session to iqn.2026-12.test:nothing", Assert.Single(unknown.StderrLines));
    }
}
