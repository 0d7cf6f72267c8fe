using System.Text.Json;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd.Tests;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// One login exposes every disk LUN of a real tgtd target (LUN 0, its controller, is skipped): one NBD export
/// each on the session's socket, over one iSCSI session; `--lun` narrows to the LUNs named.
/// </summary>
public sealed class AllLunsOverTgtdTests
{
    private const long Lun1Size = 8L << 20;
    private const long Lun2Size = 4L << 20;

    private static Task<TgtdTarget> StartTwoLunTargetAsync() => TgtdTarget.StartAsync(new TgtdOptions { Size = Lun1Size, MoreLunSizes = [Lun2Size] });

    private static string[] Login(TgtdTarget tgtd, params string[] more) =>
        ["login", "-T", tgtd.TargetName, "-p", tgtd.Portal.ToString(), "-I", TgtdTarget.DefaultInitiator, .. more];

    private static void FillRandom(string path, long size)
    {
        var bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
    }

    private static async Task<byte[]> CopyOutAsync(string uri, string directory, string name)
    {
        string copy = Path.Combine(directory, name);
        var result = await ExternalTool.RunAsync("nbdcopy", [uri, copy]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return File.ReadAllBytes(copy);
    }

    [Fact]
    public async Task One_login_gives_an_export_per_disk_lun_whose_bytes_are_tgtds_files_and_logout_ends_them_all()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        FillRandom(tgtd.BackingFileOf(1), Lun1Size);
        FillRandom(tgtd.BackingFileOf(2), Lun2Size);
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "luns.sock");

        var login = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket));

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal(
            "Skipping LUN 0: not a disk (SCSI device type: storage array controller)\n" +
            "LUN 1: IET VIRTUAL-DISK disk, 16384 blocks of 512 bytes (8 MiB)\n" +
            "LUN 2: IET VIRTUAL-DISK disk, 8192 blocks of 512 bytes (4 MiB)\n" +
            $"Device: nbd+unix:///lun1?socket={socket} (LUN 1)\n" +
            $"Device: nbd+unix:///lun2?socket={socket} (LUN 2)\n" +
            $"Login to [target: {tgtd.TargetName}, portal: {tgtd.Portal},1] successful.\n", login.Stdout);
        var list = await ExternalTool.RunAsync("nbdinfo", ["--list", $"nbd+unix://?socket={socket}"]);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("export=\"lun1\":", list.Stdout);
        Assert.Contains("export=\"lun2\":", list.Stdout);
        Assert.Contains($"description: LUN 1 of {tgtd.TargetName}", list.Stdout);
        Assert.Contains($"description: LUN 2 of {tgtd.TargetName}", list.Stdout);

        Assert.Equal(File.ReadAllBytes(tgtd.BackingFileOf(1)), await CopyOutAsync($"nbd+unix:///lun1?socket={socket}", cli.Root, "lun1.copy"));
        Assert.Equal(File.ReadAllBytes(tgtd.BackingFileOf(2)), await CopyOutAsync($"nbd+unix:///lun2?socket={socket}", cli.Root, "lun2.copy"));
        // Both LUNs over one session with one connection, as tgtd sees it.
        string shown = await tgtd.AdminAsync(CancellationToken.None, "--op", "show", "--mode", "target");
        Assert.Equal(1, shown.Split("I_T nexus:").Length - 1);
        Assert.Equal(1, shown.Split("Connection:").Length - 1);
        // Writes land on their own LUN.
        string written = Path.Combine(cli.Root, "written");
        FillRandom(written, Lun2Size);
        var copyIn = await ExternalTool.RunAsync("nbdcopy", [written, $"nbd+unix:///lun2?socket={socket}"]);
        Assert.True(copyIn.ExitCode == 0, copyIn.ToString());

        var sessions = await cli.RunAsync("session");
        Assert.Equal(
            $"[1] {tgtd.Portal},1 {tgtd.TargetName} lun 1 nbd+unix:///lun1?socket={socket} 8 MiB LOGGED_IN\n" +
            $"[1] {tgtd.Portal},1 {tgtd.TargetName} lun 2 nbd+unix:///lun2?socket={socket} 4 MiB LOGGED_IN\n", sessions.Stdout);
        var json = JsonDocument.Parse((await cli.RunAsync("session", "--json")).Stdout).RootElement.EnumerateArray().Single();
        var luns = json.GetProperty("luns").EnumerateArray().ToArray();
        Assert.Equal([1, 2], luns.Select(l => l.GetProperty("lun").GetInt32()));
        Assert.Equal([Lun1Size, Lun2Size], luns.Select(l => l.GetProperty("capacityBytes").GetInt64()));
        Assert.Equal(Lun2Size, luns[1].GetProperty("io").GetProperty("writeBytes").GetInt64());
        Assert.Equal(0, luns[0].GetProperty("io").GetProperty("writeBytes").GetInt64());
        string three = (await cli.RunAsync("session", "-P", "3")).Stdout;
        Assert.Equal(2, three.Split("Attached LUN:").Length - 1);

        var logout = await cli.RunAsync("logout", "--all");
        Assert.True(logout.ExitCode == 0, logout.ToString());
        Assert.Equal(File.ReadAllBytes(written), File.ReadAllBytes(tgtd.BackingFileOf(2)));
        Assert.False(File.Exists(socket));
        Assert.Equal(21, (await cli.RunAsync("session")).ExitCode);
    }

    [Fact]
    public async Task Lun_narrows_the_login_to_the_luns_named_and_a_missing_or_non_disk_one_is_a_one_line_error()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        FillRandom(tgtd.BackingFileOf(2), Lun2Size);
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "lun2.sock");

        var missing = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket, "--lun", "2", "--lun", "3"));
        var controller = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket, "--lun", "0", "--lun", "2"));
        var onlyTwo = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket, "--lun", "2"));

        Assert.Equal($"iscsi-up: target {tgtd.TargetName} has no LUN 3 for this initiator (it reports: 0, 1, 2)", Assert.Single(missing.StderrLines));
        Assert.Equal($"iscsi-up: LUN 0 of target {tgtd.TargetName} is not a disk (SCSI device type: storage array controller); " +
                     "choose a disk LUN with --lun (the target reports LUNs 0, 1, 2)", Assert.Single(controller.StderrLines));
        Assert.True(onlyTwo.ExitCode == 0, onlyTwo.ToString());
        Assert.Equal(
            "LUN 2: IET VIRTUAL-DISK disk, 8192 blocks of 512 bytes (4 MiB)\n" +
            $"Device: nbd+unix:///lun2?socket={socket}\n" +
            $"Login to [target: {tgtd.TargetName}, portal: {tgtd.Portal},1] successful.\n", onlyTwo.Stdout);
        var list = await ExternalTool.RunAsync("nbdinfo", ["--list", $"nbd+unix://?socket={socket}"]);
        Assert.Contains("export=\"lun2\":", list.Stdout);
        Assert.DoesNotContain("lun1", list.Stdout);
        Assert.Equal(File.ReadAllBytes(tgtd.BackingFileOf(2)), await CopyOutAsync($"nbd+unix:///lun2?socket={socket}", cli.Root, "lun2.copy"));
        Assert.Equal($"[1] {tgtd.Portal},1 {tgtd.TargetName} lun 2 nbd+unix:///lun2?socket={socket} 4 MiB LOGGED_IN\n", (await cli.RunAsync("session")).Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task A_tcp_listener_offers_every_lun()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        using var cli = new CliRun();
        int port = DiscoverCommandTests.FreePort();

        var login = await cli.RunAsync(Login(tgtd, "--nbd-listen", $"127.0.0.1:{port}"));

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains($"Device: nbd://127.0.0.1:{port}/lun1 (LUN 1)\n", login.Stdout);
        Assert.Contains($"Device: nbd://127.0.0.1:{port}/lun2 (LUN 2)\n", login.Stdout);
        var list = await ExternalTool.RunAsync("nbdinfo", ["--list", $"nbd://127.0.0.1:{port}"]);
        Assert.Contains("export=\"lun1\":", list.Stdout);
        Assert.Contains("export=\"lun2\":", list.Stdout);
        var size = await ExternalTool.RunAsync("nbdinfo", ["--size", $"nbd://127.0.0.1:{port}/lun2"]);
        Assert.Equal($"{Lun2Size}\n", size.Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task After_the_target_restarts_every_lun_is_served_again_over_the_recovered_session()
    {
        await using var tgtd = await StartTwoLunTargetAsync();
        FillRandom(tgtd.BackingFileOf(1), Lun1Size);
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "luns.sock");
        var login = await cli.RunAsync(Login(tgtd, "--nbd-unix", socket));
        Assert.True(login.ExitCode == 0, login.ToString());

        await tgtd.RestartAsync(TimeSpan.FromMilliseconds(500));
        string written = Path.Combine(cli.Root, "written");
        FillRandom(written, Lun2Size);
        var copyIn = await ExternalTool.RunAsync("nbdcopy", [written, $"nbd+unix:///lun2?socket={socket}"], TimeSpan.FromSeconds(90));
        var lun1 = await CopyOutAsync($"nbd+unix:///lun1?socket={socket}", cli.Root, "lun1.copy");

        Assert.True(copyIn.ExitCode == 0, $"{copyIn}\ndaemon log:\n{cli.DaemonLog}");
        Assert.Equal(File.ReadAllBytes(tgtd.BackingFileOf(1)), lun1);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
        Assert.Equal(File.ReadAllBytes(written), File.ReadAllBytes(tgtd.BackingFileOf(2)));
        Assert.Contains("reconnect", cli.DaemonLog, StringComparison.OrdinalIgnoreCase);
    }
}
