using System.CommandLine;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up session`: the sessions this machine holds, one per line.</summary>
public static class SessionCommand
{
    public static Command Create()
    {
        var command = new Command("session", "List active sessions: id, portal, target, LUN, device, state");
        command.SetAction(_ =>
        {
            var sessions = SessionRecord.LoadAll();
            if (sessions.Count == 0)
            {
                Console.Error.WriteLine("iscsi-up: no active sessions");
                return ExitCodes.NoObjectsFound;
            }
            foreach (var s in sessions)
                Console.WriteLine($"[{s.Id}] {s.Portal},{s.GroupTag} {s.Target} lun {s.Lun} {s.Device} {Format.Size(s.CapacityBytes)} {s.State}");
            return ExitCodes.Success;
        });
        return command;
    }
}
