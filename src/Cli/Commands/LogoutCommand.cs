using System.CommandLine;
using IscsiUp.Cli.Daemon;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up logout (-T IQN [-p PORTAL] | --all)`: stop the matching sessions (flush, detach every LUN's device, iSCSI logout).</summary>
public static class LogoutCommand
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var target = CommonOptions.Target(required: false);
        var portal = CommonOptions.Portal(required: false);
        var all = new Option<bool>("--all") { Description = "Log out of every session" };
        var force = new Option<bool>("--force") { Description = "Log out even while the device is mounted (the filesystem will see I/O errors)" };
        var command = new Command("logout", "Log out of sessions (flush, detach the device, iSCSI logout)") { target, portal, all, force };
        command.SetAction(async (result, ct) =>
        {
            string? name = result.GetValue(target);
            string? where = result.GetValue(portal) is { } text ? CommonOptions.ParsePortal(text).ToString() : null;
            bool everything = result.GetValue(all);
            if (everything == (name is not null)) throw new UserError("logout needs either -T IQN [-p PORTAL] or --all");
            var matches = SessionRecord.LoadAll()
                .Where(s => everything || (s.Target == name && (where is null || s.Portal == where)))
                .ToArray();
            if (matches.Length == 0)
            {
                Console.Error.WriteLine(everything ? "iscsi-up: no active sessions" : $"iscsi-up: no session to {name}{(where is null ? "" : $" at {where}")}");
                return everything ? ExitCodes.NoObjectsFound : ExitCodes.SessionNotFound;
            }
            if (!result.GetValue(force))
            {
                foreach (var session in matches)
                    foreach (var lun in session.Luns)
                        if (MountPoint.Of(lun.Device) is { } mountPoint)
                            throw new UserError($"{lun.Device} of session [{session.Id}] is mounted on {mountPoint}; run `iscsi-up umount -m {mountPoint}` first, or logout --force", ExitCodes.Error);
            }
            int exit = ExitCodes.Success;
            foreach (var session in matches)
            {
                Console.WriteLine($"Logging out of session [sid: {session.Id}, target: {session.Target}, portal: {session.Portal},{session.GroupTag}]");
                bool stopped;
                try { stopped = await StopAsync(session, ct).ConfigureAwait(false); }
                catch (UserError error) // this session could not be logged out cleanly: say so, go on with the others
                {
                    Console.Error.WriteLine($"iscsi-up: {error.Message}");
                    exit = error.ExitCode;
                    continue;
                }
                if (stopped)
                    Console.WriteLine($"Logout of [sid: {session.Id}, target: {session.Target}, portal: {session.Portal},{session.GroupTag}] successful.");
                else
                {
                    Console.Error.WriteLine($"iscsi-up: session [{session.Id}] (pid {session.Pid}) did not stop within {StopTimeout.TotalSeconds:0} s");
                    exit = ExitCodes.Error;
                }
            }
            return exit;
        });
        return command;
    }

    private static async Task<bool> StopAsync(SessionRecord session, CancellationToken ct)
    {
        if (session.Control is { } control)
        {
            // Held by the daemon with other sessions: ask it to end this one only.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(StopTimeout);
            var errors = new StringWriter();
            int code = await DaemonClient.SendAsync(new ControlRequest(ControlRequest.LogoutOp, Session: session.Id), startDaemon: false,
                Console.Out, errors, timeout.Token, control).ConfigureAwait(false);
            if (code != ExitCodes.Success)
            {
                string why = errors.ToString().Trim();
                throw new UserError(why.StartsWith("iscsi-up: ", StringComparison.Ordinal) ? why["iscsi-up: ".Length..] : $"the daemon could not log out session [{session.Id}]: {why}", code);
            }
            return true;
        }
        int pid = session.Pid;
        if (Tmds.Linux.LibC.kill(pid, Tmds.Linux.LibC.SIGTERM) != 0) return !SessionRecord.IsAlive(pid);
        var deadline = DateTime.UtcNow + StopTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (!SessionRecord.IsAlive(pid)) return true;
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        return false;
    }
}
