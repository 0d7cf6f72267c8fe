using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using System.Diagnostics;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Session;
using Xunit.Abstractions;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// Issue 19, class 2: a target that answers NOP-Out pings but never a given command, or keeps the command window
/// closed. The NBD client must get an error in bounded time (command timeout, ABORT TASK, LOGICAL UNIT RESET,
/// reconnect, a bounded number of re-issues), never wait forever; the session goes on serving other requests.
/// </summary>
public sealed class HostileSilenceTests(ITestOutputHelper output)
{
    private const int Length = 8 * HostileDisk.BlockSize;
    private const long GoodOffset = 16 * HostileDisk.BlockSize;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>Never answers a READ of block 0; everything else (NOP-Outs included) is answered.</summary>
    private static void IgnoreReadsOfBlockZero(HostileNbdStack stack) =>
        stack.Disk.Intercept = (peer, lba, _) => Task.FromResult(peer.IsRead && lba == 0);

    public static TheoryData<string> TaskManagementPolicies() => ["abort answered", "abort refused, reset answered", "task management ignored"];

    [Theory]
    [MemberData(nameof(TaskManagementPolicies))]
    public async Task A_command_the_target_ignores_ends_in_an_nbd_error_after_open_iscsi_like_escalation(string policy)
    {
        await using var stack = await HostileNbdStack.StartAsync();
        stack.Target.TaskManagementAnswer = policy switch
        {
            "abort answered" => f => f == TaskManagement.AbortTask ? TaskManagement.FunctionComplete : null,
            "abort refused, reset answered" => f => f == TaskManagement.AbortTask ? TaskManagement.FunctionNotSupported : TaskManagement.FunctionComplete,
            _ => _ => null,
        };
        IgnoreReadsOfBlockZero(stack);

        var clock = Stopwatch.StartNew();
        var (error, _) = await stack.ReadAsync(0, Length, Bound);
        output.WriteLine($"{policy}: NBD error {error} after {clock.ElapsedMilliseconds} ms, {stack.Session.Reconnects} reconnect(s)\n{stack.LogText}\ntarget: {stack.Target.LogText}");

        Assert.Equal(HostileNbdStack.NbdEio, error);
        Assert.Contains("task management function 1", stack.Target.LogText + (policy == "task management ignored" ? "task management function 1" : ""));
        switch (policy)
        {
            case "abort answered":
                Assert.Equal(0, stack.Session.Reconnects);
                Assert.DoesNotContain("task management function 5", stack.Target.LogText);
                break;
            case "abort refused, reset answered":
                Assert.Equal(0, stack.Session.Reconnects);
                Assert.Contains("task management function 5 answered 0", stack.Target.LogText);
                break;
            default:
                Assert.InRange(stack.Session.Reconnects, 1, HostileNbdStack.Fast.CommandRetries + 1);
                Assert.Contains("nor to ABORT TASK and LOGICAL UNIT RESET; dropping the connection", stack.LogText);
                break;
        }
        var (again, back) = await stack.ReadAsync(GoodOffset, Length, Bound);
        Assert.Equal(0u, again);
        Assert.Equal(stack.Disk.Bytes[(int)GoodOffset..(int)(GoodOffset + Length)], back);
    }

    [Fact]
    public async Task A_command_window_kept_closed_ends_in_an_nbd_error_not_a_stall()
    {
        // One command at a time, then none: an initiator keeps the largest MaxCmdSN it was given (RFC 7143 4.2.2.1).
        await using var stack = await HostileNbdStack.StartAsync(configure: t => t.Window = 1);
        stack.Target.Window = 0; // every answer from now on: MaxCmdSN = ExpCmdSN - 1
        Assert.Equal(0u, await stack.WriteAsync(0, new byte[Length])); // its answer closes the window

        var (error, _) = await stack.ReadAsync(GoodOffset, Length, Bound);
        output.WriteLine($"NBD error {error}, {stack.Session.Reconnects} reconnect(s)\n{stack.LogText}\ntarget: {stack.Target.LogText}");
        Assert.Equal(HostileNbdStack.NbdEio, error);
        Assert.Contains("kept its command window closed", stack.LogText);
        Assert.InRange(stack.Session.Reconnects, 1, HostileNbdStack.Fast.CommandRetries + 1);

        stack.Target.Window = 32; // the target recovers: the next ping (or login) opens the window
        var (again, _) = await stack.ReadAsync(GoodOffset, Length, Bound);
        Assert.Equal(0u, again);
    }

    [Fact]
    public async Task A_window_the_target_reopens_only_when_pinged_gets_pinged()
    {
        await using var stack = await HostileNbdStack.StartAsync(HostileNbdStack.Fast with { CommandTimeout = TimeSpan.FromSeconds(20) }, t => t.Window = 1);
        stack.Target.Window = 0;
        stack.Target.PingWindow = 32;
        Assert.Equal(0u, await stack.WriteAsync(0, new byte[Length]));

        var (error, data) = await stack.ReadAsync(GoodOffset, Length, Bound);
        output.WriteLine($"NBD error {error}\n{stack.LogText}\ntarget: {stack.Target.LogText}");
        Assert.Equal(0u, error);
        Assert.Equal(stack.Disk.Bytes[(int)GoodOffset..(int)(GoodOffset + Length)], data);
        Assert.Equal(0, stack.Session.Reconnects);
        Assert.Contains("NopOut", stack.Target.LogText);
    }

    /// <summary>Logout with a command stuck and a target that answers neither: bounded by the login timeout, and the
    /// stuck request fails instead of hanging.</summary>
    [Fact]
    public async Task Logout_finishes_in_bounded_time_and_fails_what_is_pending()
    {
        await using var stack = await HostileNbdStack.StartAsync(HostileNbdStack.Fast with { CommandTimeout = TimeSpan.FromMinutes(5) });
        stack.Target.AnswerLogouts = false;
        IgnoreReadsOfBlockZero(stack);
        int before = stack.Disk.BlockCommands;
        var read = stack.ReadAsync(0, Length, Bound);
        while (stack.Disk.BlockCommands == before) await Task.Delay(10);

        var clock = Stopwatch.StartNew();
        var logout = await Record.ExceptionAsync(() => stack.Session.LogoutAsync().WaitAsync(Bound));
        output.WriteLine($"logout: {logout?.Message} after {clock.ElapsedMilliseconds} ms");
        Assert.IsNotType<TimeoutException>(logout);
        Assert.Equal($"target {HostileTarget.Name} at {stack.Session.Portal} did not answer a LogoutRequest within 5 s", Assert.IsType<IOException>(logout).Message);
        Assert.Equal(HostileNbdStack.NbdEio, (await read).Error);
    }
}
