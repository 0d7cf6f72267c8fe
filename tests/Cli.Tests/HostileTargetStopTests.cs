using System.Diagnostics;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.Nbd;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Nbd.Tests;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// Issue 19, class 2, end to end: `login --foreground` holding a command the target never answers (it answers
/// pings, but neither task management nor the logout). SIGTERM must end the program in bounded time, with one
/// line saying what happened, and the NBD client must get an error (or a closed connection), never a hang.
/// </summary>
public sealed class HostileTargetStopTests
{
    [Fact]
    public async Task Sigterm_with_a_command_the_target_never_answers_exits_in_bounded_time()
    {
        var disk = new HostileDisk(64);
        disk.Intercept = (peer, lba, _) => Task.FromResult(peer.IsRead && lba == 0);
        await using var target = new HostileTarget(disk.ServeAsync) { AnswerLogouts = false };
        using var cli = new CliRun();
        await using var login = await ForegroundSession.StartAsync(cli, target);
        int before = disk.BlockCommands;
        await login.Client.SendRequestAsync(NbdConstants.CmdRead, 1, 0, 4096);
        await Wait.UntilAsync(() => disk.BlockCommands > before, "the READ to reach the target");

        var clock = Stopwatch.StartNew();
        var (exit, errors) = await login.TerminateAsync(TimeSpan.FromSeconds(60));

        Assert.True(exit == 4, $"exit {exit} after {clock.Elapsed.TotalSeconds:0} s\n{string.Join('\n', errors)}");
        Assert.Equal($"iscsi-up: {HostileTarget.Name} at 127.0.0.1:{target.Port} left I/O unanswered for 20 s; closing the connection without a logout (that I/O fails)",
            Assert.Single(errors));
        // The stuck request ends in an error or with the connection; never OK with data the target did not send.
        try
        {
            var (error, _) = await login.Client.ReadSimpleReplyAsync();
            Assert.NotEqual(0u, error);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException) { }
    }

    /// <summary>The same through the daemon: `logout --all` with a stuck command ends within the stop budget
    /// (it used to exit 1 after 60 s with "interrupted", the session still there).</summary>
    [Fact]
    public async Task Logout_all_with_a_command_the_target_never_answers_ends_in_bounded_time()
    {
        var disk = new HostileDisk(64);
        disk.Intercept = (peer, lba, _) => Task.FromResult(peer.IsRead && lba == 0);
        await using var target = new HostileTarget(disk.ServeAsync) { AnswerLogouts = false };
        using var cli = new CliRun();
        string socket = Path.Combine(cli.Root, "lun.sock");
        var login = await cli.RunAsync("login", "-T", HostileTarget.Name, "-p", $"127.0.0.1:{target.Port}",
            "-I", "iqn.2026-11.org.iscsi-up.test:daemon-stop", "--nbd-unix", socket);
        Assert.True(login.ExitCode == 0, login.ToString());
        await using var client = await RawNbdClient.ConnectUnixAsync(socket);
        await client.StartHandshakeAsync();
        Assert.Equal(NbdConstants.RepAck, (await client.GoAsync("lun0")).Final);
        int before = disk.BlockCommands;
        await client.SendRequestAsync(NbdConstants.CmdRead, 1, 0, 4096);
        await Wait.UntilAsync(() => disk.BlockCommands > before, "the READ to reach the target");

        var clock = Stopwatch.StartNew();
        var logout = await cli.RunAsync(TimeSpan.FromSeconds(90), "logout", "--all");

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), $"logout took {clock.Elapsed.TotalSeconds:0} s\n{logout}");
        Assert.True(logout.ExitCode == 4, logout.ToString());
        Assert.Single(logout.StderrLines);
        Assert.Equal(21, (await cli.RunAsync("session")).ExitCode); // no session left
    }
}
