using IscsiUp.Cli.Tests.Support;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

/// <summary>/etc/iscsi-up/iscsi-up.conf: node defaults under the node record and the command line.</summary>
public sealed class ConfigFileTests
{
    [Fact]
    public async Task The_configuration_file_supplies_digests_timeouts_and_chap_and_the_command_line_and_node_record_win()
    {
        await using var target = await BundledTarget.StartAsync(new TargetChap("alice", "alices-secret-42"u8.ToArray()));
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.ConfigDir);
        File.WriteAllText(Path.Combine(cli.ConfigDir, "iscsi-up.conf"), $"""
            # node defaults, iscsid.conf's names
            node.conn[0].timeo.login_timeout = 30
            node.session.timeo.replacement_timeout = 45
            node.conn[0].timeo.noop_out_interval = 7
            node.conn[0].timeo.noop_out_timeout = 3
            node.conn[0].iscsi.HeaderDigest = CRC32C
            node.conn[0].iscsi.DataDigest = None
            node.session.auth.username = alice
            node.session.auth.password_file = {cli.SecretFile("default.chap", "alices-secret-42")}
            """);
        string[] login = ["login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none"];

        var fromFile = await cli.RunAsync(login);

        Assert.True(fromFile.ExitCode == 0, fromFile.ToString());
        var parameters = target.Target.Sessions.Single().Parameters;
        Assert.True(parameters.HeaderDigest, "HeaderDigest = CRC32C from iscsi-up.conf was not negotiated");
        Assert.False(parameters.DataDigest);
        Assert.Contains("\t\tTimeouts:\n\t\t\tRecovery Timeout: 45\n\t\t\tNOP-Out Interval: 7\n\t\t\tNOP-Out Timeout: 3\n\t\t\tLogin Timeout: 30\n",
            (await cli.RunAsync("session", "-P", "2")).Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);

        var overridden = await cli.RunAsync([.. login, "--digest", "none", "--login-timeout", "20"]);
        Assert.True(overridden.ExitCode == 0, overridden.ToString());
        Assert.False(target.Target.Sessions.Single().Parameters.HeaderDigest, "--digest none did not override iscsi-up.conf");
        Assert.Contains("\t\t\tLogin Timeout: 20\n", (await cli.RunAsync("session", "-P", "2")).Stdout);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);

        // A node record's CHAP comes before the file's: its wrong secret is used, and refused.
        Assert.Equal(0, (await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--chap-user", "alice", "--chap-secret-file", cli.SecretFile("node.chap", "not-alices-secret"))).ExitCode);
        Assert.Equal(24, (await cli.RunAsync(login)).ExitCode);
    }

    [Theory]
    [InlineData("node.conn[0].timeo.login_timeout = 0", "invalid node.conn[0].timeo.login_timeout \"0\": give seconds from 1 to 3600")]
    [InlineData("node.session.timeo.replacement_timeout = 2147483648", "invalid node.session.timeo.replacement_timeout \"2147483648\": give seconds from 1 to 86400")]
    [InlineData("node.conn[0].iscsi.HeaderDigest = MD5", "invalid node.conn[0].iscsi.HeaderDigest \"MD5\": None, CRC32C, CRC32C,None or None,CRC32C")]
    [InlineData("node.startup = sometimes", "unknown key node.startup (see man iscsi-up, CONFIGURATION FILE)")]
    [InlineData("just words", "expected KEY = VALUE")]
    public async Task A_bad_line_is_one_error_naming_the_file_and_line_before_anything_is_contacted(string line, string message)
    {
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.ConfigDir);
        string conf = Path.Combine(cli.ConfigDir, "iscsi-up.conf");
        File.WriteAllText(conf, $"# defaults\n{line}\n");
        string closed = $"127.0.0.1:{DiscoverCommandTests.FreePort()}";

        foreach (var args in new[] { new[] { "login", "-T", BundledTarget.TargetName, "-p", closed, "--nbd-device", "none" }, ["discover", "-p", closed] })
        {
            var result = await cli.RunAsync(args);
            Assert.True(result.ExitCode == 7, result.ToString());
            Assert.Equal($"iscsi-up: {conf} line 2: {message}", Assert.Single(result.StderrLines));
        }
    }

    [Fact]
    public async Task A_fifo_as_the_configuration_file_is_one_line_not_a_hang()
    {
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.ConfigDir);
        string conf = Path.Combine(cli.ConfigDir, "iscsi-up.conf");
        BadInputTests.MakeFifo(conf);

        var result = await cli.RunAsync(TimeSpan.FromSeconds(30), "discover", "-p", $"127.0.0.1:{DiscoverCommandTests.FreePort()}");

        Assert.Equal(7, result.ExitCode);
        Assert.Equal($"iscsi-up: configuration file {conf} is not a regular file (a FIFO)", Assert.Single(result.StderrLines));
    }
}
