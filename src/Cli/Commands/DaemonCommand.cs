using System.CommandLine;
using IscsiUp.Cli.Daemon;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up daemon`: the one process that holds every session (iscsi-upd.service, socket-activated by
/// iscsi-upd.socket; or started by `login` where systemd does not run). On SIGTERM it flushes, detaches and logs
/// out of each session, then exits. Logging in the automatic nodes at boot is iscsi-up.service's job
/// (`iscsi-up login --automatic`), which asks this daemon.
/// </summary>
public static class DaemonCommand
{
    /// <summary>How long a daemon started by a command lingers without sessions before it exits.</summary>
    public const int SpawnedIdleSeconds = 30;

    public static Command Create()
    {
        var spawned = new Option<bool>("--spawned")
        {
            Description = $"Started by another iscsi-up command: detach, log to /run/iscsi-up/daemon.log, exit after {SpawnedIdleSeconds} s without sessions",
            Hidden = true,
        };
        var idle = new Option<int>("--exit-when-idle")
        {
            Description = "Exit after this many seconds without sessions (0, the default: keep running)",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("daemon", "Hold all sessions and answer the other commands (run by iscsi-upd.service)") { spawned, idle };
        command.SetAction(async (result, ct) =>
        {
            bool isSpawned = result.GetValue(spawned);
            if (result.GetValue(idle) < 0) throw new UserError($"invalid --exit-when-idle {result.GetValue(idle)}: give seconds, or 0 to keep running");
            if (isSpawned)
            {
                DaemonLog.Detach();
                TimestampedLog.Install();
            }
            using var activated = SocketActivation.TakeListener();
            using var daemonLock = DaemonLock.TryAcquire();
            if (daemonLock is null)
            {
                if (isSpawned) return ExitCodes.Success; // another command started one first: that one serves
                throw new UserError($"another iscsi-up daemon already runs (pid {DaemonLock.RunningPid()})");
            }
            int idleSeconds = isSpawned ? SpawnedIdleSeconds : result.GetValue(idle);
            string path = ControlServer.DefaultPath;
            var log = Console.Out;
            var daemon = new SessionDaemon(path, log) { SessionsChanged = count => SystemdNotify.Send($"STATUS={count} session(s)") };
            using var stopServing = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var server = new ControlServer(daemon.HandleAsync);
            if (activated is not null) server.Adopt(activated);
            else server.Bind(path);
            var serving = server.RunAsync(stopServing.Token);
            log.WriteLine($"iscsi-up: daemon (pid {Environment.ProcessId}) answering on {path}{(activated is null ? "" : " (socket activation)")}");
            SystemdNotify.Send("READY=1\nSTATUS=0 session(s)");
            daemon.AdoptWaitingDevices(ct); // devices a daemon before us left in use: reattach them

            await WaitForStopAsync(daemon, server, idleSeconds, ct).ConfigureAwait(false);

            SystemdNotify.Send("STOPPING=1");
            log.WriteLine(ct.IsCancellationRequested
                ? $"iscsi-up: stopping: logging out of {daemon.SessionCount} session(s)"
                : $"iscsi-up: no sessions for {idleSeconds} s: exiting");
            await daemon.StopAllAsync().ConfigureAwait(false);
            await stopServing.CancelAsync().ConfigureAwait(false);
            server.Dispose();
            await serving.ConfigureAwait(false);
            if (activated is null) TryDelete(path);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Until SIGTERM, or (with an idle limit) until the daemon held nothing for that long.</summary>
    private static async Task WaitForStopAsync(SessionDaemon daemon, ControlServer server, int idleSeconds, CancellationToken ct)
    {
        try
        {
            if (idleSeconds <= 0)
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
                return;
            }
            var idleSince = DateTime.UtcNow;
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                if (daemon.SessionCount > 0 || server.ActiveRequests > 0) idleSince = DateTime.UtcNow;
                else if (DateTime.UtcNow - idleSince >= TimeSpan.FromSeconds(idleSeconds) && daemon.TryRetireWhenIdle()) return;
            }
        }
        catch (OperationCanceledException) { }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { }
    }
}
