using IscsiUp.Cli.Tests.Support;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

/// <summary>Text a target sends never reaches our output with control characters (issue 19, class 5).</summary>
public sealed class TargetTextOutputTests
{
    [Fact]
    public async Task Discover_refuses_a_target_name_that_would_forge_an_output_line_and_prints_it_escaped()
    {
        const string forged = "iqn.2026-11.org.iscsi-up.test:disk0\n10.66.66.66:3260,1 iqn.2026-11.org.iscsi-up.test:injected\u001b[2K";
        using var array = Raid5Array.CreateInMemory(3, 1, 1 << 20, 64 * 1024);
        await using var target = new IscsiTarget(new TargetOptions
        {
            TargetName = forged,
            Host = "127.0.0.1",
            Port = 0,
            Luns = new Dictionary<int, IBlockStorage> { [0] = array },
        });
        await target.StartAsync();
        using var cli = new CliRun();

        var result = await cli.RunAsync("discover", "-p", $"127.0.0.1:{target.Port}", "-I", BundledTarget.Client);

        Assert.Equal("", result.Stdout); // before: two lines, the second one forged
        Assert.Equal(ExitCodes.Error, result.ExitCode);
        Assert.Equal(
            "iscsi-up: protocol error from the target: the value of text key TargetName contains control characters: " +
            "\"iqn.2026-11.org.iscsi-up.test:disk0\\n10.66.66.66:3260,1 iqn.2026-11.org.iscsi-up.test:injected\\x1b[2K\" " +
            $"(SendTargets answer from 127.0.0.1:{target.Port})\n",
            result.Stderr);
    }

    [Fact]
    public async Task Discover_skips_a_target_name_that_is_not_an_iscsi_name_in_one_line_and_lists_the_others()
    {
        using var array = Raid5Array.CreateInMemory(3, 1, 1 << 20, 64 * 1024);
        await using var bad = await StartAsync("iqn.2026-11.org.iscsi-up.test:disk0 10.66.66.66:3260,1 extra", array);
        await using var good = await StartAsync("iqn.2026-11.org.iscsi-up.test:Disk1", array);
        using var cli = new CliRun();

        var skipped = await cli.RunAsync("discover", "-p", $"127.0.0.1:{bad.Port}", "-I", BundledTarget.Client);
        var listed = await cli.RunAsync("discover", "-p", $"127.0.0.1:{good.Port}", "-I", BundledTarget.Client);

        Assert.Equal("", skipped.Stdout);
        Assert.Equal(ExitCodes.NoObjectsFound, skipped.ExitCode);
        Assert.StartsWith($"iscsi-up: 127.0.0.1:{bad.Port} reported \"iqn.2026-11.org.iscsi-up.test:disk0 10.66.66.66:3260,1 extra\", " +
                          "which is not a valid iSCSI target name; skipped\n", skipped.Stderr);
        Assert.Equal(0, listed.ExitCode); // upper case is not wrong: iSCSI names compare without case
        Assert.Equal($"127.0.0.1:{good.Port},1 iqn.2026-11.org.iscsi-up.test:Disk1\n", listed.Stdout);
    }

    private static async Task<IscsiTarget> StartAsync(string name, IBlockStorage storage)
    {
        var target = new IscsiTarget(new TargetOptions
        {
            TargetName = name,
            Host = "127.0.0.1",
            Port = 0,
            Luns = new Dictionary<int, IBlockStorage> { [0] = storage },
        });
        await target.StartAsync();
        return target;
    }
}
