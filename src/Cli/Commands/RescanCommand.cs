using System.CommandLine;
using IscsiUp.Cli.Daemon;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up rescan [-T IQN [-p PORTAL]]`: asks the daemon to bring the sessions' LUNs in step with their
/// targets now (like `iscsiadm -m session -R`): new disk LUNs are exposed, removed ones retired, capacities read
/// again. What the target announces itself (a unit attention) is done without asking.
/// </summary>
public static class RescanCommand
{
    private static readonly TimeSpan RescanTimeout = TimeSpan.FromSeconds(120);

    public static Command Create()
    {
        var target = CommonOptions.Target(required: false);
        var portal = CommonOptions.Portal(required: false);
        var command = new Command("rescan", "Look for LUNs added, removed or resized on the targets of the sessions (all, or those of -T IQN [-p PORTAL])") { target, portal };
        command.SetAction(async (result, ct) =>
        {
            string? name = result.GetValue(target);
            string? where = result.GetValue(portal) is { } text ? CommonOptions.ParsePortal(text).ToString() : null;
            if (where is not null && name is null) throw new UserError("rescan -p PORTAL needs -T IQN as well");
            var matches = SessionRecord.LoadAll()
                .Where(s => name is null || (s.Target == name && (where is null || s.Portal == where)))
                .ToArray();
            if (matches.Length == 0)
            {
                Console.Error.WriteLine(name is null ? "iscsi-up: no active sessions" : $"iscsi-up: no session to {name}{(where is null ? "" : $" at {where}")}");
                return name is null ? ExitCodes.NoObjectsFound : ExitCodes.SessionNotFound;
            }
            int exit = ExitCodes.Success;
            foreach (var session in matches)
            {
                Console.WriteLine($"Rescanning session [sid: {session.Id}, target: {session.Target}, portal: {session.Portal},{session.GroupTag}]");
                int code = await RescanAsync(session, ct).ConfigureAwait(false);
                if (code != ExitCodes.Success) exit = code;
            }
            return exit;
        });
        return command;
    }

    private static async Task<int> RescanAsync(SessionRecord session, CancellationToken ct)
    {
        if (session.Waiting)
        {
            Console.Error.WriteLine($"iscsi-up: session [{session.Id}] waits for a daemon to take it over ({session.State}): nothing to rescan");
            return ExitCodes.SessionNotFound;
        }
        if (session.Control is not { } control)
        {
            Console.Error.WriteLine($"iscsi-up: session [{session.Id}] is held by login --foreground (pid {session.Pid}), which has no control socket: " +
                                    "it follows the target's own change reports only");
            return ExitCodes.Error;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(RescanTimeout);
        var changes = new StringWriter();
        int code = await DaemonClient.SendAsync(new ControlRequest(ControlRequest.RescanOp, Session: session.Id), startDaemon: false,
            changes, Console.Error, timeout.Token, control).ConfigureAwait(false);
        string said = changes.ToString();
        Console.Write(said.Length > 0 ? said : code == ExitCodes.Success ? "No change\n" : "");
        return code;
    }
}
