using System.Diagnostics;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Tests.Tools;

public sealed class CliCommandRunnerTests
{
    [Fact]
    public async Task Captures_output_exit_code_and_streams_lines()
    {
        var lines = new List<string>();

        var result = await CliCommandRunner.Instance.RunAsync(
            "sh", ["-c", "echo one; echo two >&2; echo \"$LC_ALL\"; exit 3"], TimeSpan.FromSeconds(30), lines.Add);

        Assert.Equal(3, result.ExitCode);
        Assert.Equal("one\nC\n", result.StandardOutput);
        Assert.Equal("two\n", result.StandardError);
        Assert.Equal(["C", "one", "two"], lines.Order());
        Assert.Equal("two", result.FirstErrorLine);
    }

    [Fact]
    public async Task Kills_a_tool_that_runs_too_long()
    {
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<ToolTimeoutException>(
            () => CliCommandRunner.Instance.RunAsync("sleep", ["30"], TimeSpan.FromMilliseconds(300)));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Equal("sleep 30 did not finish within 300 ms and was killed", error.Message);
    }

    [Fact]
    public async Task Caller_cancellation_is_not_a_timeout()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => CliCommandRunner.Instance.RunAsync("sleep", ["30"], TimeSpan.FromMinutes(1), cancellationToken: cancel.Token));
    }

    [Fact]
    public async Task A_missing_tool_names_its_package()
    {
        var error = await Assert.ThrowsAsync<ToolNotFoundException>(
            () => CliCommandRunner.Instance.RunAsync("mkfs.iscsi-up-does-not-exist", [], TimeSpan.FromSeconds(5)));

        Assert.Equal("mkfs.iscsi-up-does-not-exist not found; install util-linux", error.Message);
        Assert.False(CliCommandRunner.Instance.IsAvailable("mkfs.iscsi-up-does-not-exist"));
    }
}
