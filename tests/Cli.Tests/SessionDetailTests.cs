using System.Text.Json;
using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

/// <summary>`session -P 1|2|3` and `--json` on session, discover and node, as scripts and iscsiadm users read them.</summary>
public sealed class SessionDetailTests
{
    [Fact]
    public async Task Session_print_levels_show_state_parameters_lun_and_io_counters()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        int nbdPort = DiscoverCommandTests.FreePort();
        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--digest", "prefer", "--nbd-listen", $"127.0.0.1:{nbdPort}");
        Assert.True(login.ExitCode == 0, login.ToString());
        string file = Path.Combine(cli.Root, "data");
        var data = new byte[1 << 20];
        Random.Shared.NextBytes(data); // not zeros: nbdcopy would send those as WRITE_ZEROES, not as writes
        File.WriteAllBytes(file, data);
        await LoginCommandTests.RunToolAsync("nbdcopy", file, $"nbd://127.0.0.1:{nbdPort}/");

        var one = await cli.RunAsync("session", "-P", "1");
        var three = await cli.RunAsync("session", "-P", "3");

        Assert.Equal(0, one.ExitCode);
        Assert.Equal(
            $"Target: {BundledTarget.TargetName}\n" +
            $"\tCurrent Portal: {target.Portal},1\n" +
            $"\t\tIface Initiatorname: {BundledTarget.Client}\n" +
            "\t\tSID: 1\n" +
            "\t\tiSCSI Connection State: LOGGED IN\n" +
            "\t\tiSCSI Session State: LOGGED_IN\n" +
            "\t\tRecoveries: 0\n", one.Stdout);
        Assert.Equal(0, three.ExitCode);
        Assert.StartsWith(one.Stdout + "\t\tNegotiated iSCSI params:\n\t\t\tHeaderDigest: CRC32C\n\t\t\tDataDigest: CRC32C\n", three.Stdout);
        var negotiated = target.Target.Sessions.Single().Parameters;
        Assert.Contains($"\t\t\tMaxBurstLength: {negotiated.MaxBurstLength}\n", three.Stdout);
        Assert.Contains($"\t\t\tFirstBurstLength: {negotiated.FirstBurstLength}\n", three.Stdout);
        Assert.Contains($"\t\tAttached LUN:\n\t\t\tLUN: 0\n\t\t\tDevice: nbd://127.0.0.1:{nbdPort}/lun0\n\t\t\tSize: 32 MiB (33554432 bytes)\n", three.Stdout);
        Assert.Matches(@"\t\t\tWrites: [1-9]\d* \(1048576 bytes\)\n", three.Stdout);
        Assert.Contains("\t\t\tErrors: 0\n", three.Stdout);

        var json = await cli.RunAsync("session", "--json");
        Assert.Equal(0, json.ExitCode);
        var session = Assert.Single(JsonDocument.Parse(json.Stdout).RootElement.EnumerateArray().ToArray());
        Assert.Equal(1, session.GetProperty("id").GetInt32());
        Assert.Equal(BundledTarget.TargetName, session.GetProperty("target").GetString());
        Assert.Equal(target.Portal, session.GetProperty("portal").GetString());
        Assert.Equal("LOGGED IN", session.GetProperty("connectionState").GetString());
        Assert.Equal(0, session.GetProperty("recoveries").GetInt32());
        Assert.Equal("CRC32C", session.GetProperty("parameters").GetProperty("headerDigest").GetString());
        Assert.Equal(negotiated.MaxBurstLength, session.GetProperty("parameters").GetProperty("maxBurstLength").GetInt32());
        Assert.Equal(1 << 20, session.GetProperty("io").GetProperty("writeBytes").GetInt64());
        Assert.Equal(33554432, session.GetProperty("capacityBytes").GetInt64());

        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
        var none = await cli.RunAsync("session", "--json");
        Assert.Equal(21, none.ExitCode);
        Assert.Equal("[]\n", none.Stdout);
        Assert.Equal(7, (await cli.RunAsync("session", "-P", "4")).ExitCode);
    }

    [Fact]
    public async Task Discover_and_node_print_json_arrays()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var discover = await cli.RunAsync("discover", "-p", target.Portal, "-I", BundledTarget.Client, "--json");
        var created = await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--startup", "automatic", "--lun", "0", "--nbd-device", "none", "--json");

        Assert.True(discover.ExitCode == 0, discover.ToString());
        var portal = Assert.Single(JsonDocument.Parse(discover.Stdout).RootElement.EnumerateArray().ToArray());
        Assert.Equal(BundledTarget.TargetName, portal.GetProperty("target").GetString());
        Assert.Equal(target.Portal, portal.GetProperty("portal").GetString());
        Assert.Equal(1, portal.GetProperty("groupTag").GetInt32());

        Assert.True(created.ExitCode == 0, created.ToString());
        var node = Assert.Single(JsonDocument.Parse(created.Stdout).RootElement.EnumerateArray().ToArray());
        Assert.Equal(BundledTarget.TargetName, node.GetProperty("target").GetString());
        Assert.Equal(BundledTarget.Client, node.GetProperty("initiator").GetString());
        Assert.Equal(0, node.GetProperty("lun").GetInt32());
        Assert.Equal("automatic", node.GetProperty("startup").GetString());
        Assert.Equal("none", node.GetProperty("nbdDevice").GetString());
        Assert.False(node.GetProperty("mutualChap").GetBoolean());
        Assert.Contains("New node record", created.Stderr);
    }
}
