using System.CommandLine;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up logout (-T IQN [-p PORTAL] | --all)`: stop the matching sessions (flush, detach, iSCSI logout).</summary>
public static class LogoutCommand
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var target = CommonOptions.Target(required: false);
        var portal = CommonOptions.Portal(required: false);
        var all = new Option<bool>("--all") { Description = "Log out of every session" };
        var command = new Command("logout", "Log out of sessions (flush, detach the device, iSCSI logout)") { target, portal, all };
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
            int exit = ExitCodes.Success;
            foreach (var session in matches)
            {
                Console.WriteLine($"Logging out of session [sid: {session.Id}, target: {session.Target}, portal: {session.Portal},{session.GroupTag}]");
                if (await StopAsync(session.Pid, ct).ConfigureAwait(false))
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

    private static async Task<bool> StopAsync(int pid, CancellationToken ct)
    {
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
