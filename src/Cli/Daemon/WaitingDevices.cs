using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// Where no systemd restarts the daemon: any command that finds a kernel device left waiting by a daemon that is
/// gone starts a new daemon, which takes the device over (the same as `login` starting one on demand).
/// </summary>
public static class WaitingDevices
{
    /// <summary>Starts (or wakes) the daemon when a device waits for one; says so on <paramref name="stderr"/>.</summary>
    public static async Task WakeDaemonAsync(TextWriter stderr, CancellationToken ct)
    {
        var waiting = SessionRecord.LoadAll().Where(r => r.Waiting).ToArray();
        if (waiting.Length == 0) return;
        try
        {
            await DaemonClient.SendAsync(new ControlRequest(ControlRequest.PingOp), startDaemon: true, TextWriter.Null, TextWriter.Null, ct).ConfigureAwait(false);
            stderr.WriteLine($"iscsi-up: {string.Join(", ", waiting.SelectMany(r => r.Luns).Select(l => l.Device))} waited for a daemon: the daemon takes {(waiting.Length == 1 ? "it" : "them")} over");
        }
        catch (UserError e)
        {
            stderr.WriteLine($"iscsi-up: {string.Join(", ", waiting.SelectMany(r => r.Luns).Select(l => l.Device))} wait for a daemon, but it did not start: {e.Message}");
        }
    }
}
