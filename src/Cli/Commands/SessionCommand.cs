using System.CommandLine;
using System.Text.Json;
using IscsiUp.Cli.Daemon;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up session [-P 1|2|3] [--json]`: the sessions this machine holds, one per line, or in detail as
/// `iscsiadm -m session -P N` shows them (the daemon answers for the live values of the sessions it holds).
/// </summary>
public static class SessionCommand
{
    public static Command Create()
    {
        var level = new Option<int>("--print-level", "-P")
        {
            Description = "Detail: 1 session and connection state, recoveries; 2 also the negotiated parameters; 3 also the LUN, device and I/O counters",
            HelpName = "1|2|3",
        };
        var json = new Option<bool>("--json") { Description = "Print every detail as a JSON array (see README, JSON output)" };
        var command = new Command("session", "List active sessions, a line per exposed LUN: id, portal, target, LUN, device, state; -P N or --json for details") { level, json };
        command.SetAction(async (result, ct) =>
        {
            int detail = result.GetValue(level);
            if (detail is < 0 or > 3) throw new UserError($"invalid -P {detail}: give 1, 2 or 3");
            var sessions = SessionRecord.LoadAll();
            if (sessions.Count == 0)
            {
                if (result.GetValue(json)) Console.WriteLine("[]");
                Console.Error.WriteLine("iscsi-up: no active sessions");
                return ExitCodes.NoObjectsFound;
            }
            if (detail == 0 && !result.GetValue(json))
            {
                foreach (var s in sessions) // one line per LUN: a session exposing several shows its id on each
                    foreach (var l in s.Luns)
                        Console.WriteLine($"[{s.Id}] {s.Portal},{s.GroupTag} {s.Target} lun {l.Lun} {l.Device} {Format.Size(l.CapacityBytes)} {s.State}{WaitNote(s)}{PortalNote(s)}");
                await Daemon.WaitingDevices.WakeDaemonAsync(Console.Error, ct).ConfigureAwait(false); // shown as found, then taken over
                return ExitCodes.Success;
            }
            var details = new List<SessionDetails>();
            foreach (var s in sessions) details.Add(await DetailsAsync(s, ct).ConfigureAwait(false));
            if (result.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(details.ToArray(), OutputJson.Default.SessionDetailsArray));
            else foreach (var d in details) Console.Write(d.Format(detail));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The daemon's live view of a session it holds; the record alone for one held by login --foreground.</summary>
    private static async Task<SessionDetails> DetailsAsync(SessionRecord record, CancellationToken ct)
    {
        if (record.Control is not { } control) return SessionDetails.From(record);
        var answer = new StringWriter();
        try
        {
            int code = await DaemonClient.SendAsync(new ControlRequest(ControlRequest.ShowOp, Session: record.Id), startDaemon: false,
                answer, TextWriter.Null, ct, control).ConfigureAwait(false);
            if (code == ExitCodes.Success && JsonSerializer.Deserialize(answer.ToString(), ControlJson.Default.SessionDetails) is { } live) return live;
        }
        catch (Exception e) when (e is UserError or IOException or JsonException or System.Net.Sockets.SocketException) { }
        return SessionDetails.From(record);
    }

    /// <summary>For a session that failed over: the portal it runs on now (the line keeps the one logged in at, which logout -p names).</summary>
    private static string PortalNote(SessionRecord s) =>
        s.Failovers == 0 ? "" : $" (through {s.CurrentPortal} after {s.Failovers} failover{(s.Failovers == 1 ? "" : "s")})";

    /// <summary>For a device waiting for a daemon: how long its I/O is still held.</summary>
    private static string WaitNote(SessionRecord s) =>
        !s.Waiting ? ""
        : s.LeftAt > 0 ? $" (I/O held {SessionAdoption.SecondsLeft(s, DateTimeOffset.UtcNow)} s more for the next daemon)"
        : $" (its daemon pid {s.Pid} died; I/O held up to {s.NbdDeadTimeout} s for the next daemon)";
}
