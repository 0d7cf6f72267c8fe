using IscsiUp.Cli.Tests.Support;
using IscsiUp.Nbd;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Tests.Fuzz;

namespace IscsiUp.Cli.Tests;

/// <summary>The error-handling timeouts as a user sets them: per node, on `login`, and refused when out of range.</summary>
public sealed class SessionTimeoutOptionsTests
{
    private const string Target = "iqn.2026-11.com.example:storage.timeouts";

    [Fact]
    public async Task Node_stores_the_timeouts_under_open_iscsi_keys_and_lists_them()
    {
        using var cli = new CliRun();

        var created = await cli.RunAsync("node", "-T", Target, "-p", "192.0.2.10", "--command-timeout", "7", "--abort-timeout", "3");
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Equal($"192.0.2.10:3260 {Target} lun auto startup=manual cmd_timeout=7 abort_timeout=3", created.Stdout.Split('\n')[1]);
        var changed = await cli.RunAsync("node", "-T", Target, "--lu-reset-timeout", "9", "--replacement-timeout", "240");
        Assert.Equal($"192.0.2.10:3260 {Target} lun auto startup=manual cmd_timeout=7 abort_timeout=3 lu_reset_timeout=9 replacement_timeout=240",
            changed.Stdout.Trim());

        string file = Assert.Single(Directory.GetFiles(Path.Combine(cli.ConfigDir, "nodes"), "*.node"));
        var lines = File.ReadAllLines(file);
        Assert.Contains("node.session.cmd_timeout=7", lines);
        Assert.Contains("node.session.err_timeo.abort_timeout=3", lines);
        Assert.Contains("node.session.err_timeo.lu_reset_timeout=9", lines);
        Assert.Contains("node.session.timeo.replacement_timeout=240", lines);
    }

    [Theory]
    [InlineData("node", "--command-timeout", "0")]
    [InlineData("node", "--abort-timeout", "-5")]
    [InlineData("login", "--lu-reset-timeout", "86401")]
    [InlineData("login", "--replacement-timeout", "0")]
    public async Task A_timeout_out_of_range_is_one_line_and_exit_7(string command, string option, string value)
    {
        using var cli = new CliRun();

        string[] args = [command, "-T", Target, "-p", "127.0.0.1:1", option, value];
        var result = await cli.RunAsync(command == "login" ? [.. args, "--foreground"] : args);

        Assert.Equal(7, result.ExitCode);
        Assert.Equal($"iscsi-up: {option} must be whole seconds from 1 to 86400, not {value}", Assert.Single(result.StderrLines));
    }

    /// <summary>--command-timeout 1 on login: a READ the target ignores is aborted after a second, the NBD client gets
    /// EIO, and the session goes on (SIGTERM then logs out cleanly).</summary>
    [Fact]
    public async Task Login_command_timeout_applies_to_the_session()
    {
        var disk = new HostileDisk(64);
        disk.Intercept = (peer, lba, _) => Task.FromResult(peer.IsRead && lba == 0);
        await using var target = new HostileTarget(disk.ServeAsync)
        {
            TaskManagementAnswer = f => f == TaskManagement.AbortTask ? TaskManagement.FunctionComplete : null,
        };
        using var cli = new CliRun();
        await using var login = await ForegroundSession.StartAsync(cli, target, "--command-timeout", "1");

        await login.Client.SendRequestAsync(NbdConstants.CmdRead, 1, 0, 4096);
        var (error, cookie) = await login.Client.ReadSimpleReplyAsync();
        Assert.Equal(1ul, cookie);
        Assert.Equal(5u, error); // EIO, after ABORT TASK
        Assert.Contains("task management function 1 answered 0", target.LogText);

        var (exit, errors) = await login.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.True(exit == 0, string.Join('\n', errors));
    }
}
