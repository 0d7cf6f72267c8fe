using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using System.Diagnostics;
using IscsiUp.Iscsi.Pdus;
using Xunit.Abstractions;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// Issue 19, class 3: every reconnect logs in fine, but the command re-issued on it fails again (Data-In for an
/// unknown task, or silence). The old code reconnected without pause and without end (25,407 times in 200 s,
/// one log line each). Now each request ends in an NBD error after a bounded number of re-issues, the back-off
/// holds across such reconnects while the client keeps asking, and repeated log lines are summarised.
/// </summary>
public sealed class HostileReconnectTests(ITestOutputHelper output)
{
    private const int Length = 8 * HostileDisk.BlockSize;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Storm = TimeSpan.FromSeconds(5);

    public static TheoryData<string> Failures() => ["Data-In for an unknown task", "silence"];

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task A_command_that_fails_again_after_every_reconnect_ends_in_an_error_without_a_reconnect_storm(string failure)
    {
        await using var stack = await HostileNbdStack.StartAsync();
        stack.Disk.Intercept = async (peer, lba, _) =>
        {
            if (!peer.IsRead || lba != 0) return false;
            if (peer.Login == 1) peer.Close(); // the first connection breaks; each later one fails the command again
            else if (failure != "silence") await peer.SendAsync(peer.DataIn(0, new byte[512], status: 0, itt: peer.Itt ^ 0x0101_0000));
            return true;
        };

        // A client that keeps asking for the broken block, as a filesystem or the kernel's retries would.
        var clock = Stopwatch.StartNew();
        int requests = 0;
        do
        {
            var (error, _) = await stack.ReadAsync(0, Length, Bound);
            Assert.True(error == HostileNbdStack.NbdEio, $"request {requests + 1} got NBD error {error}\n{stack.LogText}");
            requests++;
        } while (clock.Elapsed < Storm);
        var elapsed = clock.Elapsed;
        var log = stack.Log.ToArray();
        output.WriteLine($"{failure}: {requests} request(s) failed in {elapsed.TotalSeconds:0.0} s, {stack.Target.Logins} login(s), {log.Length} log line(s)\n{string.Join('\n', log)}");

        // Each request is re-issued at most CommandRetries times; reconnects back off (50 ms doubling to 400 ms
        // here, +-25%) while connections keep failing right after their login.
        Assert.InRange(stack.Target.Logins, 2, 1 + requests * (HostileNbdStack.Fast.CommandRetries + 1));
        Assert.True(stack.Target.Logins <= 5 + elapsed.TotalSeconds / 0.3, $"{stack.Target.Logins} logins in {elapsed.TotalSeconds:0.0} s: the back-off did not hold");
        // One line per kind of message per minute, whatever the count.
        Assert.True(log.Length <= 8, $"{log.Length} log lines for {stack.Target.Logins} logins:\n{string.Join('\n', log)}");

        var (again, _) = await stack.ReadAsync(16 * HostileDisk.BlockSize, Length, Bound);
        Assert.Equal(0u, again);
    }
}
