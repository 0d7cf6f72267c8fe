using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

public sealed class DiscoverCommandTests
{
    [Fact]
    public async Task Prints_one_line_per_portal_in_iscsiadm_form()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var result = await cli.RunAsync("discover", "-p", target.Portal, "-I", BundledTarget.Client);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"{target.Portal},1 {BundledTarget.TargetName}\n", result.Stdout);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task Closed_port_is_one_line_naming_the_portal_and_exit_4()
    {
        int port = FreePort();
        using var cli = new CliRun();

        var result = await cli.RunAsync("discover", "-p", $"127.0.0.1:{port}");

        Assert.Equal(4, result.ExitCode);
        Assert.Equal($"iscsi-up: cannot connect to portal 127.0.0.1:{port}: connection refused (is the target running and listening on that port?)", Assert.Single(result.StderrLines));
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task Missing_portal_is_a_usage_error_with_exit_7()
    {
        using var cli = new CliRun();

        var result = await cli.RunAsync("discover");

        Assert.Equal(7, result.ExitCode);
        Assert.Equal("iscsi-up: Option '--portal' is required.", result.StderrLines[0]);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public async Task Bad_port_is_a_usage_error()
    {
        using var cli = new CliRun();

        var result = await cli.RunAsync("discover", "-p", "127.0.0.1:99999");

        Assert.Equal(7, result.ExitCode);
        Assert.Equal("iscsi-up: invalid portal \"127.0.0.1:99999\": port must be a number from 1 to 65535", Assert.Single(result.StderrLines));
    }

    [Fact]
    public async Task Invalid_initiator_name_is_refused_before_connecting()
    {
        using var cli = new CliRun();

        var result = await cli.RunAsync("discover", "-p", "127.0.0.1:1", "-I", "not-an-iqn");

        Assert.Equal(7, result.ExitCode);
        Assert.StartsWith("iscsi-up: invalid initiator name \"not-an-iqn\"", Assert.Single(result.StderrLines));
    }

    [Fact]
    public async Task Generates_and_keeps_an_initiator_name_when_none_is_configured()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        // The generated name is not in the ACL, but discovery sessions are open to every initiator.
        var result = await cli.RunAsync("discover", "-p", target.Portal);

        Assert.True(result.ExitCode == 0, result.ToString());
        string file = Path.Combine(cli.ConfigDir, "initiatorname.iscsi");
        Assert.Matches(@"^InitiatorName=iqn\.2026-11\.org\.iscsi-up:[0-9a-f]{12}\n$", File.ReadAllText(file));
    }

    internal static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

public sealed class DiscoverChapTests
{
    [Fact]
    public async Task Discovery_with_chap_checks_the_secret()
    {
        await using var target = await BundledTarget.StartAsync(new IscsiUp.TestTarget.Target.TargetChap("alice", "discovery-secret"u8.ToArray()));
        using var cli = new CliRun();
        string right = cli.SecretFile("right", "discovery-secret"), wrong = cli.SecretFile("wrong", "guess");

        var denied = await cli.RunAsync("discover", "-p", target.Portal, "-I", BundledTarget.Client, "--chap-user", "alice", "--chap-secret-file", wrong);
        var allowed = await cli.RunAsync("discover", "-p", target.Portal, "-I", BundledTarget.Client, "--chap-user", "alice", "--chap-secret-file", right);

        Assert.Equal(24, denied.ExitCode);
        Assert.StartsWith("iscsi-up: authentication failure", Assert.Single(denied.StderrLines));
        Assert.DoesNotContain("guess", denied.Stdout + denied.Stderr);
        Assert.True(allowed.ExitCode == 0, allowed.ToString());
        Assert.Equal($"{target.Portal},1 {BundledTarget.TargetName}\n", allowed.Stdout);
    }
}
