using System.CommandLine;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up session`: the sessions this machine holds, one per line.</summary>
public static class SessionCommand
{
    public static Command Create()
    {
        var command = new Command("session", "List active sessions: id, portal, target, LUN, device, state");
        command.SetAction(async (_, ct) =>
        {
            var sessions = SessionRecord.LoadAll();
            if (sessions.Count == 0)
            {
                Console.Error.WriteLine("iscsi-up: no active sessions");
                return ExitCodes.NoObjectsFound;
            }
            foreach (var s in sessions)
                Console.WriteLine($"[{s.Id}] {s.Portal},{s.GroupTag} {s.Target} lun {s.Lun} {s.Device} {Format.Size(s.CapacityBytes)} {s.State}{WaitNote(s)}");
            await Daemon.WaitingDevices.WakeDaemonAsync(Console.Error, ct).ConfigureAwait(false); // shown as found, then taken over
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>For a device waiting for a daemon: how long its I/O is still held.</summary>
    private static string WaitNote(SessionRecord s) =>
        !s.Waiting ? ""
        : s.LeftAt > 0 ? $" (I/O held {SessionAdoption.SecondsLeft(s, DateTimeOffset.UtcNow)} s more for the next daemon)"
        : $" (its daemon pid {s.Pid} died; I/O held up to {s.NbdDeadTimeout} s for the next daemon)";
}
