using System.Text.RegularExpressions;
using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

/// <summary>What `login` prints, and what the daemon's log keeps of it.</summary>
public sealed partial class LoginOutputTests
{
    [Fact]
    public async Task Login_prints_the_lun_the_device_then_success_the_same_way_every_time()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        for (int round = 0; round < 3; round++)
        {
            int nbdPort = DiscoverCommandTests.FreePort();

            var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
                "--nbd-listen", $"127.0.0.1:{nbdPort}");

            Assert.True(login.ExitCode == 0, login.ToString());
            Assert.Equal(
                "LUN 0: ISCSIUP RAID5 TESTDISK disk, 65536 blocks of 512 bytes (32 MiB)\n" +
                $"Device: nbd://127.0.0.1:{nbdPort}/lun0\n" +
                $"Login to [target: {BundledTarget.TargetName}, portal: {target.Portal},1] successful.\n",
                login.Stdout);
            Assert.Equal("", login.Stderr);
            Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
        }
    }

    [Fact]
    public async Task A_missing_lun_fails_the_login_without_ever_saying_successful()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var foreground = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--lun", "5", "--nbd-device", "none", "--foreground");
        var daemon = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--lun", "5", "--nbd-device", "none");

        foreach (var result in new[] { foreground, daemon })
        {
            Assert.Equal(7, result.ExitCode);
            Assert.DoesNotContain("successful", result.Stdout);
            Assert.Equal($"iscsi-up: target {BundledTarget.TargetName} has no LUN 5 for this initiator (it reports: 0)", Assert.Single(result.StderrLines));
        }
        await Wait.UntilAsync(() => target.Target.ActiveSessions == 0, "the failed logins to be logged out");

        // The same under --automatic: a node with LUN 99 is skipped in one line, nothing claims success.
        Assert.Equal(0, (await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--startup", "automatic", "--lun", "99", "--nbd-device", "none")).ExitCode);
        var boot = await cli.RunAsync("login", "--automatic", "--attempts", "1");
        Assert.Equal(7, boot.ExitCode);
        Assert.DoesNotContain("successful", boot.Stdout);
        Assert.Equal($"iscsi-up: node {BundledTarget.TargetName} at {target.Portal} skipped: target {BundledTarget.TargetName} has no LUN 99 for this initiator (it reports: 0)",
            Assert.Single(boot.StderrLines));
    }

    [Fact]
    public async Task Daemon_log_lines_carry_a_timestamp_and_name_the_target_once()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--nbd-listen", $"127.0.0.1:{DiscoverCommandTests.FreePort()}");
        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);

        string[] lines = cli.DaemonLog.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 5, cli.DaemonLog);
        foreach (var line in lines)
        {
            Assert.Matches(Timestamp(), line);
            Assert.True(Regex.Count(line, Regex.Escape(BundledTarget.TargetName)) <= 1, $"names the target more than once: {line}");
            Assert.True(line.Length <= 160, $"longer than 160 characters: {line}");
            Assert.DoesNotContain("iscsi-up: ", line);
        }
        Assert.Contains(lines, l => l.EndsWith($"Login to [target: {BundledTarget.TargetName}, portal: {target.Portal},1] successful.", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith($"{BundledTarget.TargetName} at {target.Portal}: LUN 0: ISCSIUP RAID5 TESTDISK disk, 65536 blocks of 512 bytes (32 MiB)", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d \S")]
    private static partial Regex Timestamp();
}

/// <summary>Against the real tgtd, whose LUN 0 is its controller and LUN 1 the disk.</summary>
public sealed class TgtdLoginOutputTests
{
    [Fact]
    public async Task A_lun_that_is_not_a_disk_fails_the_login_in_one_line_without_saying_successful()
    {
        await using var tgtd = await IscsiUp.Initiator.Tests.Peers.TgtdTarget.StartAsync();
        using var cli = new CliRun();
        string[] login = ["login", "-T", tgtd.TargetName, "-p", tgtd.Portal.ToString(), "-I", IscsiUp.Initiator.Tests.Peers.TgtdTarget.DefaultInitiator, "--nbd-device", "none"];

        var controller = await cli.RunAsync([.. login, "--lun", "0"]);
        var disk = await cli.RunAsync([.. login, "--lun", "1"]);

        Assert.Equal(7, controller.ExitCode);
        Assert.DoesNotContain("successful", controller.Stdout);
        Assert.Equal($"iscsi-up: LUN 0 of target {tgtd.TargetName} is not a disk (SCSI device type: storage array controller); choose a disk LUN with --lun (the target reports LUNs 0, 1)",
            Assert.Single(controller.StderrLines));
        Assert.True(disk.ExitCode == 0, disk.ToString());
        Assert.EndsWith($"Login to [target: {tgtd.TargetName}, portal: {tgtd.Portal},1] successful.\n", disk.Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }
}
