using System.Diagnostics;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.Initiator.Nbd;
using IscsiUp.Initiator.Tests.Fuzz;

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
}
