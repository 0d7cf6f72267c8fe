using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// Root keeps its state only where nobody else can write (issue 19, class 7): a run directory that another user
/// owns or anyone may write is refused before anything is written there, and no file there is written through a
/// symlink, so planted links cannot redirect root's writes onto other files.
/// </summary>
public sealed class RunDirectoryTests
{
    [Fact]
    public async Task Login_refuses_a_world_writable_run_directory_of_another_user_and_writes_through_none_of_its_links()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.RunDir);
        string victim = Path.Combine(cli.Root, "victim");
        File.WriteAllText(victim, "precious\n");
        string sessions = Path.Combine(cli.RunDir, "sessions");
        Directory.CreateDirectory(sessions);
        foreach (var planted in new[] { "daemon.log", "daemon.pid", "daemon.lock", "sessions/1.session", "sessions/1.session.tmp" })
            File.CreateSymbolicLink(Path.Combine(cli.RunDir, planted), victim);
        foreach (var dir in new[] { cli.RunDir, sessions })
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF); // 0777, as the attacker left it
            await ChownAsync(dir, "65534:65534");
        }

        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");

        Assert.Equal(
            $"iscsi-up: refusing to use {cli.RunDir}: it is owned by uid 65534, not by root; it must be a directory owned by root (or by the user running iscsi-up) and writable by no one else\n",
            login.Stderr);
        Assert.Equal(ExitCodes.Error, login.ExitCode);
        Assert.Equal("precious\n", File.ReadAllText(victim));
        Assert.Equal(0, target.Target.ActiveSessions);
    }

    [Fact]
    public async Task A_root_owned_run_directory_that_anyone_may_write_is_refused_too()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.RunDir);
        File.SetUnixFileMode(cli.RunDir, (UnixFileMode)0x1FF);

        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");

        Assert.Equal(ExitCodes.Error, login.ExitCode);
        Assert.Equal($"iscsi-up: refusing to use {cli.RunDir}: it is writable by other users (mode 777); it must be a directory owned by root (or by the user running iscsi-up) and writable by no one else",
            Assert.Single(login.StderrLines));
        Assert.Equal(0, target.Target.ActiveSessions);
    }

    [Fact]
    public async Task Node_refuses_a_config_directory_of_another_user()
    {
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.ConfigDir);
        await ChownAsync(cli.ConfigDir, "65534:65534");

        var node = await cli.RunAsync("node", "-T", BundledTarget.TargetName, "-p", "127.0.0.1:3260", "--startup", "manual");

        Assert.Equal(ExitCodes.Error, node.ExitCode);
        Assert.StartsWith($"iscsi-up: refusing to use {cli.ConfigDir}: it is owned by uid 65534", Assert.Single(node.StderrLines));
        Assert.Empty(Directory.GetFileSystemEntries(cli.ConfigDir));
    }

    [Fact]
    public async Task Links_planted_in_a_trusted_run_directory_are_replaced_or_refused_never_written_through()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        string sessions = Path.Combine(cli.RunDir, "sessions");
        Directory.CreateDirectory(sessions);
        string victim = Path.Combine(cli.Root, "victim");
        File.WriteAllText(victim, "precious\n");
        foreach (var planted in new[] { "daemon.pid", "sessions/1.session", "sessions/1.session.tmp" })
            File.CreateSymbolicLink(Path.Combine(cli.RunDir, planted), victim);

        var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal("precious\n", File.ReadAllText(victim));
        var record = new FileInfo(Path.Combine(sessions, "1.session"));
        Assert.Null(record.LinkTarget);
        Assert.Contains($"target={BundledTarget.TargetName}\n", File.ReadAllText(record.FullName));
        Assert.Null(new FileInfo(Path.Combine(cli.RunDir, "daemon.pid")).LinkTarget);
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);
    }

    [Fact]
    public async Task A_daemon_log_that_is_a_symlink_is_refused_and_its_target_left_alone()
    {
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.RunDir);
        string victim = Path.Combine(cli.Root, "victim");
        File.WriteAllText(victim, "precious\n");
        File.CreateSymbolicLink(Path.Combine(cli.RunDir, "daemon.log"), victim);

        var daemon = await cli.RunAsync(TimeSpan.FromSeconds(30), "daemon", "--spawned");

        Assert.NotEqual(0, daemon.ExitCode);
        Assert.Equal("precious\n", File.ReadAllText(victim));
        Assert.Equal(0, cli.DaemonPid);
    }

    private static async Task ChownAsync(string path, string owner)
    {
        using var chown = System.Diagnostics.Process.Start("chown", ["-h", owner, path])!;
        await chown.WaitForExitAsync();
        Assert.Equal(0, chown.ExitCode);
    }
}
