using IscsiUp.Cli.Tests.Support;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

/// <summary>`iscsi-up node` records with CHAP, and `login --automatic` as iscsi-up.service runs it at boot.</summary>
public sealed class AutomaticLoginTests
{
    [Fact]
    public async Task Automatic_login_logs_in_every_node_and_names_the_one_with_a_wrong_chap_secret_in_one_line()
    {
        await using var open = await BundledTarget.StartAsync();
        await using var guarded = await BundledTarget.StartAsync(new TargetChap("alice", "right-secret-123"u8.ToArray()));
        using var cli = new CliRun();
        var created = await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", open.Portal, "-I", BundledTarget.Client, "--startup", "automatic", "--nbd-device", "none");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Contains($"New node record for {BundledTarget.TargetName} at {open.Portal}", created.Stdout);
        var chap = await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", guarded.Portal, "-I", BundledTarget.Client, "--startup", "automatic", "--nbd-device", "none",
            "--chap-user", "alice", "--chap-secret-file", cli.SecretFile("wrong", "wrong-secret-456"));
        Assert.True(chap.ExitCode == 0, chap.ToString());
        Assert.Contains("chap=alice", chap.Stdout);

        var boot = await cli.RunAsync("login", "--automatic", "--attempts", "3");

        Assert.Equal(24, boot.ExitCode);
        Assert.Contains("iscsi-up: 1 of 2 automatic node(s) logged in", boot.Stdout);
        string skipped = Assert.Single(boot.StderrLines);
        Assert.StartsWith($"iscsi-up: node {BundledTarget.TargetName} at {guarded.Portal} skipped: authentication failure: ", skipped);
        Assert.EndsWith("(check the CHAP user name and secret)", skipped);
        Assert.Equal(1, open.Target.ActiveSessions);
        Assert.Equal(0, guarded.Target.ActiveSessions);

        // The right secret, set on the node; a second run logs in the rest and leaves the first session alone.
        Assert.Equal(0, (await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", guarded.Portal,
            "--chap-user", "alice", "--chap-secret-file", cli.SecretFile("right", "right-secret-123"))).ExitCode);
        var again = await cli.RunAsync("login", "--automatic");

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains($"iscsi-up: node {BundledTarget.TargetName} at {open.Portal}: already logged in", again.Stdout);
        Assert.Contains("iscsi-up: 2 of 2 automatic node(s) logged in", again.Stdout);
        Assert.Equal(1, open.Target.ActiveSessions);
        Assert.Equal(1, guarded.Target.ActiveSessions);

        // The secret lives in a 0600 copy under the configuration; no listing, record or log shows it.
        string copy = Assert.Single(Directory.GetFiles(Path.Combine(cli.ConfigDir, "secrets")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(copy));
        Assert.Equal("right-secret-123\n", File.ReadAllText(copy));
        var everything = (await cli.RunAsync("node")).Stdout + (await cli.RunAsync("session")).Stdout + cli.DaemonLog + boot + again
                         + string.Concat(Directory.GetFiles(Path.Combine(cli.ConfigDir, "nodes")).Select(File.ReadAllText));
        Assert.DoesNotContain("right-secret", everything);
        Assert.DoesNotContain("wrong-secret", everything);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task Unreachable_node_is_retried_then_reported_in_one_line_and_the_command_ends()
    {
        using var cli = new CliRun();
        int closed = DiscoverCommandTests.FreePort();
        Assert.Equal(0, (await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", $"127.0.0.1:{closed}", "-I", BundledTarget.Client, "--startup", "automatic", "--nbd-device", "none")).ExitCode);

        var boot = await cli.RunAsync("login", "--automatic", "--attempts", "2");

        Assert.Equal(4, boot.ExitCode);
        Assert.Contains("iscsi-up: 0 of 1 automatic node(s) logged in", boot.Stdout);
        Assert.Equal(2, boot.StderrLines.Length);
        Assert.StartsWith($"iscsi-up: node {BundledTarget.TargetName} at 127.0.0.1:{closed}: attempt 1 of 2 failed: cannot connect", boot.StderrLines[0]);
        Assert.StartsWith($"iscsi-up: node {BundledTarget.TargetName} at 127.0.0.1:{closed} skipped: cannot connect", boot.StderrLines[1]);
    }

    [Fact]
    public async Task Secret_file_readable_by_others_is_used_with_a_warning()
    {
        await using var target = await BundledTarget.StartAsync(new TargetChap("bob", "bobs-secret-789"u8.ToArray()));
        using var cli = new CliRun();
        string loose = Path.Combine(cli.Root, "loose");
        File.WriteAllText(loose, "bobs-secret-789\n");
        File.SetUnixFileMode(loose, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--chap-user", "bob", "--chap-secret-file", loose, "--nbd-device", "none");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal($"iscsi-up: warning: CHAP secret file {loose} is readable by other users (chmod 600 {loose})", Assert.Single(login.StderrLines));
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }
}
