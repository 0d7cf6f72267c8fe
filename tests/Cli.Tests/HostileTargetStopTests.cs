using System.Diagnostics;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.Initiator.Nbd;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Nbd;

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
        string socket = Path.Combine(cli.Root, "lun.sock");
        using var process = Process.Start(cli.StartInfo("login", "-T", HostileTarget.Name, "-p", $"127.0.0.1:{target.Port}",
            "-I", "iqn.2026-11.org.iscsi-up.test:stop", "--foreground", "--nbd-unix", socket))!;
        var ready = new TaskCompletionSource();
        var stdout = new List<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.Add(e.Data);
            if (e.Data.StartsWith("LUN 0:")) ready.TrySetResult();
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await Task.WhenAny(ready.Task, process.WaitForExitAsync()).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(ready.Task.IsCompleted, $"login failed: {(process.HasExited ? await stderr : "")}\n{string.Join('\n', stdout)}");
            await Wait.UntilAsync(() => File.Exists(socket), "the NBD socket");

            await using var client = await RawNbdClient.ConnectUnixAsync(socket);
            await client.StartHandshakeAsync();
            Assert.Equal(NbdConstants.RepAck, (await client.GoAsync("lun0")).Final);
            int before = disk.BlockCommands;
            await client.SendRequestAsync(NbdConstants.CmdRead, 1, 0, 4096);
            await Wait.UntilAsync(() => disk.BlockCommands > before, "the READ to reach the target");

            var clock = Stopwatch.StartNew();
            Assert.Equal(0, Tmds.Linux.LibC.kill(process.Id, Tmds.Linux.LibC.SIGTERM));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var errors = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);

            Assert.True(process.ExitCode == 4, $"exit {process.ExitCode} after {clock.Elapsed.TotalSeconds:0} s\n{string.Join('\n', errors)}");
            Assert.Equal($"iscsi-up: {HostileTarget.Name} at 127.0.0.1:{target.Port} left I/O unanswered for 20 s; closing the connection without a logout (that I/O fails)",
                Assert.Single(errors));
            // The stuck request ends in an error or with the connection; never OK with data the target did not send.
            try
            {
                var (error, _) = await client.ReadSimpleReplyAsync();
                Assert.NotEqual(0u, error);
            }
            catch (Exception e) when (e is IOException or EndOfStreamException) { }
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
