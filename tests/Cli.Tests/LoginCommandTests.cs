using System.Diagnostics;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.Cli.Tests;

public sealed class LoginCommandTests
{
    [Fact]
    public async Task Wrong_initiator_name_is_an_authorization_failure_with_exit_19()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var result = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal,
            "-I", "iqn.2026-11.org.iscsi-up.test:intruder", "--foreground", "--nbd-device", "none");

        Assert.Equal(19, result.ExitCode);
        Assert.Equal($"iscsi-up: authorization failure: target {BundledTarget.TargetName} does not allow initiator iqn.2026-11.org.iscsi-up.test:intruder (add it to the target's ACL or log in with -I NAME)",
            Assert.Single(result.StderrLines));
        Assert.Equal(0, target.Target.ActiveSessions);
    }

    [Fact]
    public async Task Wrong_target_name_is_target_not_found_with_exit_19()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var result = await cli.RunAsync("login", "-T", "iqn.2026-11.org.iscsi-up.test:nope", "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");

        Assert.Equal(19, result.ExitCode);
        Assert.Equal($"iscsi-up: target not found: the portal has no target iqn.2026-11.org.iscsi-up.test:nope, or does not show it to initiator {BundledTarget.Client} (run discover to list the targets it offers)",
            Assert.Single(result.StderrLines));
    }

    [Fact]
    public async Task Chap_required_without_credentials_is_exit_24_and_secret_file_logs_in()
    {
        var secret = "s3cret-for-the-test"u8.ToArray();
        await using var target = await BundledTarget.StartAsync(new TargetChap("alice", secret));
        using var cli = new CliRun();

        var refused = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");
        Assert.Equal(24, refused.ExitCode);
        Assert.Contains("requires CHAP", Assert.Single(refused.StderrLines));

        string wrong = cli.SecretFile("wrong", "not-the-secret");
        var denied = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--chap-user", "alice", "--chap-secret-file", wrong, "--nbd-device", "none");
        Assert.Equal(24, denied.ExitCode);
        Assert.StartsWith("iscsi-up: authentication failure", Assert.Single(denied.StderrLines));
        Assert.DoesNotContain("not-the-secret", denied.Stderr + denied.Stdout);

        string right = cli.SecretFile("right", "s3cret-for-the-test");
        var ok = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--chap-user", "alice", "--chap-secret-file", right, "--nbd-device", "none");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.DoesNotContain("s3cret", ok.Stdout + ok.Stderr);
        // No node record holds these credentials: the session keeps them (0600, root's run directory) for a daemon
        // that takes its device over, and they go with the session.
        string kept = Path.Combine(cli.RunDir, "sessions", "1.chap");
        Assert.False(File.Exists(Path.Combine(cli.ConfigDir, "nodes", $"{BundledTarget.TargetName}@{target.Portal}.node")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(kept));
        Assert.Equal($"user=alice\nsecret={Convert.ToBase64String(secret)}\n", File.ReadAllText(kept));
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
        Assert.False(File.Exists(kept));
    }

    [Fact]
    public async Task Background_login_serves_nbd_lists_the_session_and_logs_out()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        int nbdPort = DiscoverCommandTests.FreePort();

        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--nbd-listen", $"127.0.0.1:{nbdPort}");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains($"Login to [target: {BundledTarget.TargetName}, portal: {target.Portal},1] successful.", login.Stdout);
        Assert.Contains($"Device: nbd://127.0.0.1:{nbdPort}/lun0", login.Stdout);
        Assert.Equal(1, target.Target.ActiveSessions);

        var session = await cli.RunAsync("session");
        Assert.Equal(0, session.ExitCode);
        Assert.Equal($"[1] {target.Portal},1 {BundledTarget.TargetName} lun 0 nbd://127.0.0.1:{nbdPort}/lun0 32 MiB LOGGED_IN\n", session.Stdout);

        var again = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");
        Assert.Equal(15, again.ExitCode);

        // A real NBD client writes through iscsi-up into the RAID-5 array.
        var data = new byte[1 << 20];
        Random.Shared.NextBytes(data);
        string file = Path.Combine(cli.Root, "data");
        File.WriteAllBytes(file, data);
        await RunToolAsync("nbdcopy", "--destination-is-zero", file, $"nbd://127.0.0.1:{nbdPort}/");
        var onArray = new byte[data.Length];
        await target.Array.ReadAsync(0, onArray);
        Assert.True(data.AsSpan().SequenceEqual(onArray), "the bytes written through NBD are not on the target's array");

        var logout = await cli.RunAsync("logout", "-T", BundledTarget.TargetName, "-p", target.Portal);
        Assert.True(logout.ExitCode == 0, logout.ToString());
        Assert.Contains($"Logout of [sid: 1, target: {BundledTarget.TargetName}, portal: {target.Portal},1] successful.", logout.Stdout);
        await Wait.UntilAsync(() => target.Target.ActiveSessions == 0, "the target to see the logout");
        Assert.Equal(21, (await cli.RunAsync("session")).ExitCode);
        Assert.Equal(2, (await cli.RunAsync("logout", "-T", BundledTarget.TargetName)).ExitCode);
    }

    [Fact]
    public async Task Foreground_login_logs_out_cleanly_on_sigterm()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        using var process = Process.Start(cli.StartInfo("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--foreground", "--digest", "require", "--nbd-device", "none"))!;
        var stdout = new List<string>();
        var ready = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.Add(e.Data);
            if (e.Data.StartsWith("LUN 0:")) ready.TrySetResult();
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(target.Target.Sessions.Single().Parameters.HeaderDigest, "--digest require did not negotiate CRC32C");

        Assert.Equal(0, Tmds.Linux.LibC.kill(process.Id, Tmds.Linux.LibC.SIGTERM));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(process.ExitCode == 0, await stderr);
        lock (stdout) Assert.Contains($"Logout of [target: {BundledTarget.TargetName}, portal: {target.Portal}] successful.", stdout);
        await Wait.UntilAsync(() => target.Target.ActiveSessions == 0, "the target to see the logout");
    }

    [Fact]
    public async Task Nbd_listen_refuses_non_loopback_addresses()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var result = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client,
            "--nbd-listen", "0.0.0.0:10809", "--foreground");

        Assert.Equal(7, result.ExitCode);
        Assert.Equal("iscsi-up: refusing to serve NBD on 0.0.0.0: NBD has no authentication, so only loopback addresses and unix sockets are allowed",
            Assert.Single(result.StderrLines));
        Assert.Equal(0, target.Target.TotalSessions); // refused before logging in, not after

    }

    [Fact]
    public async Task Logout_needs_a_target_or_all()
    {
        using var cli = new CliRun();

        var result = await cli.RunAsync("logout");

        Assert.Equal(7, result.ExitCode);
        Assert.Equal("iscsi-up: logout needs either -T IQN [-p PORTAL] or --all", Assert.Single(result.StderrLines));
    }

    internal static async Task RunToolAsync(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception) { Assert.Fail($"{tool} is not installed (apt-get install libnbd-bin)"); throw; }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, $"{tool} failed: {await stderr}");
        }
    }
}

public sealed class LoginDefaultDeviceTests
{
    [Fact]
    public async Task Login_attaches_a_kernel_device_by_default_and_says_so_when_the_kernel_has_no_nbd()
    {
        // This machine's kernel has no nbd driver (the kernel lab covers the attach itself): the default must try
        // the kernel device, fail with one clear line before logging in, and leave no session on the target.
        if (Directory.Exists("/sys/module/nbd")) Assert.Fail("precondition: this test expects a kernel without the nbd driver (see tests/KernelLab for nbd)");
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var result = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--foreground");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("iscsi-up: this kernel has no nbd driver", Assert.Single(result.StderrLines));
        Assert.Equal(0, target.Target.TotalSessions);
    }
}
