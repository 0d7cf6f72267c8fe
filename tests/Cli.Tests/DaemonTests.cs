using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

/// <summary>One daemon holds every session; the commands talk to it over the control socket.</summary>
public sealed class DaemonTests
{
    [Fact]
    public async Task One_daemon_holds_every_session_and_logout_ends_only_the_named_one()
    {
        await using var first = await BundledTarget.StartAsync();
        await using var second = await BundledTarget.StartAsync();
        using var cli = new CliRun();

        var a = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", first.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");
        var b = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", second.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");

        Assert.True(a.ExitCode == 0, a.ToString());
        Assert.True(b.ExitCode == 0, b.ToString());
        Assert.Contains($"Login to [target: {BundledTarget.TargetName}, portal: {second.Portal},1] successful.", b.Stdout);
        int daemon = cli.DaemonPid;
        Assert.True(daemon > 0, "no daemon.pid after login");
        var records = Directory.GetFiles(Path.Combine(cli.RunDir, "sessions"), "*.session").Select(File.ReadAllText).ToArray();
        Assert.Equal(2, records.Length);
        Assert.All(records, record => Assert.Contains($"pid={daemon}\n", record));
        Assert.Equal(1, first.Target.ActiveSessions);
        Assert.Equal(1, second.Target.ActiveSessions);

        var logout = await cli.RunAsync("logout", "-T", BundledTarget.TargetName, "-p", first.Portal);

        Assert.True(logout.ExitCode == 0, logout.ToString());
        Assert.Contains($"Logout of [sid: 1, target: {BundledTarget.TargetName}, portal: {first.Portal},1] successful.", logout.Stdout);
        Assert.Equal(0, first.Target.ActiveSessions);
        Assert.Equal(1, second.Target.ActiveSessions);
        var session = await cli.RunAsync("session");
        Assert.Equal($"[2] {second.Portal},1 {BundledTarget.TargetName} lun 0 - 32 MiB LOGGED_IN\n", session.Stdout);
        Assert.Equal(daemon, cli.DaemonPid);
        Assert.Contains($" Login to [target: {BundledTarget.TargetName}, portal: {second.Portal},1] successful.\n", cli.DaemonLog);
    }

    [Fact]
    public async Task Daemon_started_by_systemd_socket_activation_serves_logins_and_logs_out_on_sigterm()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.RunDir);
        string socketPath = Path.Combine(cli.RunDir, "control.sock");
        // systemd-socket-activate binds the socket and starts the daemon with LISTEN_FDS=1, as iscsi-upd.socket does.
        var start = cli.StartInfo("daemon");
        start.ArgumentList.Insert(0, "dotnet");
        start.ArgumentList.Insert(0, $"--listen={socketPath}");
        foreach (var variable in new[] { "ISCSI_UP_RUN_DIR", "ISCSI_UP_CONFIG_DIR" })
            start.ArgumentList.Insert(0, $"--setenv={variable}={start.Environment[variable]}");
        start.FileName = "systemd-socket-activate";
        using var activator = Process.Start(start)!;
        var output = new StringBuilder();
        activator.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        activator.BeginOutputReadLine();
        var stderr = activator.StandardError.ReadToEndAsync();
        try
        {
            await Wait.UntilAsync(() => File.Exists(socketPath), "systemd-socket-activate to bind the control socket");

            var login = await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none");

            Assert.True(login.ExitCode == 0, login + "\ndaemon stderr:\n" + output);
            Assert.Equal(activator.Id, cli.DaemonPid); // the activated daemon, not one the command started
            lock (output) Assert.Contains("(socket activation)", output.ToString());
            Assert.Equal(1, target.Target.ActiveSessions);

            Assert.Equal(0, Tmds.Linux.LibC.kill(activator.Id, Tmds.Linux.LibC.SIGTERM));
            await activator.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(activator.ExitCode == 0, await stderr);
            Assert.Equal(0, target.Target.ActiveSessions);
            lock (output) Assert.Contains($"Logout of [target: {BundledTarget.TargetName}, portal: {target.Portal}] successful.", output.ToString());
            Assert.Equal(21, (await cli.RunAsync("session")).ExitCode);
        }
        finally
        {
            if (!activator.HasExited) activator.Kill();
        }
    }

    [Fact]
    public async Task Daemon_answers_a_malformed_request_with_a_clear_error_and_keeps_serving()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        Assert.Equal(0, (await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none")).ExitCode);

        foreach (string garbage in new[] { "hello", "{\"op\":\"login\"}", "{\"op\":\"format-everything\"}", new string('x', 100_000) })
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(cli.RunDir, "control.sock")));
            await using var stream = new NetworkStream(socket);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(garbage + "\n"));
            using var reader = new StreamReader(stream);
            string answer = (await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10))).TrimEnd();
            var lines = answer.Split('\n');
            Assert.True(lines.Length == 2, $"answer to {garbage[..Math.Min(20, garbage.Length)]}: {answer}");
            Assert.StartsWith("err iscsi-up: the daemon ", lines[0]);
            Assert.Equal("exit 7", lines[1]);
        }

        var session = await cli.RunAsync("session");
        Assert.True(session.ExitCode == 0, session.ToString());
        Assert.Equal(1, target.Target.ActiveSessions);
    }

    [Fact]
    public async Task A_spawned_daemon_exits_on_its_own_once_idle_and_a_new_login_starts_another()
    {
        await using var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        var args = new[] { "login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none" };
        Assert.Equal(0, (await cli.RunAsync(args)).ExitCode);
        int first = cli.DaemonPid;
        Assert.Equal(0, (await cli.RunAsync("logout", "--all")).ExitCode);

        await Wait.UntilAsync(() => !Directory.Exists($"/proc/{first}"), "the idle daemon to exit", seconds: 60);
        Assert.Contains("no sessions for 30 s: exiting", cli.DaemonLog);
        Assert.False(File.Exists(Path.Combine(cli.RunDir, "control.sock")), "the idle daemon left its socket behind");

        var again = await cli.RunAsync(args);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.NotEqual(first, cli.DaemonPid);
    }
}

public sealed class DaemonLogoutTests
{
    [Fact]
    public async Task Logout_of_a_target_that_went_away_ends_within_the_stop_budget_with_one_clear_line()
    {
        var target = await BundledTarget.StartAsync();
        using var cli = new CliRun();
        Assert.Equal(0, (await cli.RunAsync("login", "-T", BundledTarget.TargetName, "-p", target.Portal, "-I", BundledTarget.Client, "--nbd-device", "none")).ExitCode);
        string portal = target.Portal;
        await target.DisposeAsync(); // the storage server is gone before the client logs out (a shutdown in the wrong order)

        var started = DateTime.UtcNow;
        var logout = await cli.RunAsync(TimeSpan.FromSeconds(60), "logout", "--all");

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(40), $"logout took {(DateTime.UtcNow - started).TotalSeconds:0} s");
        Assert.Equal(4, logout.ExitCode);
        Assert.Equal($"iscsi-up: session [1] to {BundledTarget.TargetName} at {portal}: the device is detached, but the target did not answer the cache flush and logout within 20 s",
            Assert.Single(logout.StderrLines));
        Assert.Equal(21, (await cli.RunAsync("session")).ExitCode);
    }
}
