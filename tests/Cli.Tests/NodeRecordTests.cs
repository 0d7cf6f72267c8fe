using IscsiUp.Cli.Tests.Support;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

/// <summary>Node records as `login -T -p` and `login --automatic` use them, and records that are broken.</summary>
public sealed class NodeRecordTests
{
    [Fact]
    public async Task Login_with_target_and_portal_uses_the_node_record_and_the_command_line_overrides_it()
    {
        await using var target = await BundledTarget.StartAsync(new TargetChap("alice", "alices-secret-42"u8.ToArray()));
        using var cli = new CliRun();
        Assert.Equal(0, (await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--lun", "0", "--nbd-device", "none", "--chap-user", "alice", "--chap-secret-file", cli.SecretFile("s", "alices-secret-42"))).ExitCode);

        // As `iscsiadm -m node -T IQN -p IP --login`: the node's initiator name, CHAP and "hold only" apply.
        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal);

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.DoesNotContain("Device:", login.Stdout);
        Assert.Equal($"[1] {target.Portal},1 {BundledTarget.TargetName} lun 0 - 32 MiB LOGGED_IN\n", (await cli.RunAsync("session")).Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);

        // The command line wins: an NBD socket instead of nothing, and a wrong secret file instead of the node's.
        int nbdPort = DiscoverCommandTests.FreePort();
        var exposed = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "--nbd-listen", $"127.0.0.1:{nbdPort}");
        Assert.True(exposed.ExitCode == 0, exposed.ToString());
        Assert.Contains($"Device: nbd://127.0.0.1:{nbdPort}/lun0", exposed.Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
        var wrong = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal,
            "--chap-user", "alice", "--chap-secret-file", cli.SecretFile("w", "not-alices-secret"));
        Assert.Equal(24, wrong.ExitCode);
    }

    [Fact]
    public async Task A_corrupt_or_special_node_file_is_reported_in_one_line_and_the_other_nodes_still_log_in()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        Assert.Equal(0, (await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--startup", "automatic", "--nbd-device", "none")).ExitCode);
        string nodes = Path.Combine(cli.ConfigDir, "nodes");
        string good = Assert.Single(Directory.GetFiles(nodes));
        string corrupt = Path.Combine(nodes, "iqn.2026-11.org.iscsi-up.test:broken@127.0.0.1:3260.node");
        File.WriteAllText(corrupt, File.ReadAllText(good).Replace("node.lun=\n", "node.lun=99999999999\n").Replace(":disk0", ":broken"));
        string fifo = Path.Combine(nodes, "stuck.node");
        BadInputTests.MakeFifo(fifo);

        var boot = await cli.RunAsync(TimeSpan.FromSeconds(60), "login", "--automatic", "--attempts", "1");

        Assert.Equal(7, boot.ExitCode);
        Assert.Contains("iscsi-up: 1 of 1 automatic node(s) logged in", boot.Stdout);
        Assert.Equal(
        [
            $"iscsi-up: node record {corrupt}: invalid node.lun \"99999999999\": a LUN is a number from 0 to 16383; skipped",
            $"iscsi-up: node record {fifo} is not a regular file (a FIFO); skipped",
        ], boot.StderrLines);
        Assert.Equal(1, target.Target.ActiveSessions);

        var list = await cli.RunAsync("node");
        Assert.Equal(0, list.ExitCode);
        Assert.Equal($"{target.Portal} {BundledTarget.TargetName} lun auto startup=automatic nbd-device=none\n", list.Stdout);
        Assert.Equal(2, list.StderrLines.Length);

        // The broken record can still be deleted by name.
        var delete = await cli.RunAsync("node", "-T", "iqn.2026-11.org.iscsi-up.test:broken", "-p", "127.0.0.1:3260", "--delete");
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.False(File.Exists(corrupt));
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public void An_error_in_a_record_names_the_record_even_when_the_bad_value_holds_its_path()
    {
        using var cli = new CliRun();
        string record = Path.Combine(cli.Root, "disk0.node");
        File.WriteAllText(record, $"node.target={BundledTarget.TargetName}\nnode.portal=127.0.0.1:3260\nnode.initiator={BundledTarget.Client}\nnode.startup={record}\n");

        var error = Assert.Throws<UserError>(() => Config.NodeRecord.Load(record));

        Assert.Equal($"node record {record}: invalid node.startup \"{record}\": automatic or manual", error.Message);
    }

    [Fact]
    public void Node_portals_round_trip_and_a_record_written_before_them_still_loads()
    {
        using var cli = new CliRun();
        string older = Path.Combine(cli.Root, "older.node");
        File.WriteAllText(older, $"node.target={BundledTarget.TargetName}\nnode.portal=127.0.0.1:3260\nnode.initiator={BundledTarget.Client}\nnode.startup=manual\n");
        Assert.Empty(Config.NodeRecord.Load(older).Portals);

        File.AppendAllText(older, "node.portals=127.0.0.1:3260,1 [2001:db8::1]:3261,2\n");
        var loaded = Config.NodeRecord.Load(older);
        Assert.Equal(["127.0.0.1:3260,1", "[2001:db8::1]:3261,2"], loaded.Portals.Select(p => p.ToString()));

        File.AppendAllText(older, "node.portals=127.0.0.1:99999,1\n");
        var error = Assert.Throws<UserError>(() => Config.NodeRecord.Load(older));
        Assert.StartsWith($"node record {older}: invalid node.portals entry \"127.0.0.1:99999,1\"", error.Message);
    }

    [Fact]
    public void Discovered_portals_add_up_and_a_portal_listed_again_takes_its_new_group_tag()
    {
        static Initiator.Discovery.TargetPortal P(string text) => Initiator.Discovery.TargetPortal.Parse(text);

        var merged = Commands.DiscoverCommand.Merge([P("10.0.0.1:3260,1"), P("10.0.0.2:3260,1")], [P("10.0.0.3:3260,1"), P("10.0.0.2:3260,2")]);

        Assert.Equal(["10.0.0.1:3260,1", "10.0.0.2:3260,2", "10.0.0.3:3260,1"], merged.Select(p => p.ToString()));
    }
}
