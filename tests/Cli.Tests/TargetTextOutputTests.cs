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
}
