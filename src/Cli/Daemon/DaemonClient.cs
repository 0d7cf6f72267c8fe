using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// The commands' side of the control socket. Under systemd the socket belongs to iscsi-upd.socket and
/// connecting starts the daemon; elsewhere, when nobody listens, the client starts `iscsi-up daemon --spawned`
/// itself (it detaches, logs to /run/iscsi-up/daemon.log and exits once it holds no session for a while).
/// </summary>
public static class DaemonClient
{
    private static readonly TimeSpan SpawnTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Sends one request and relays the daemon's answer to <paramref name="stdout"/> and <paramref name="stderr"/>;
    /// returns the exit code the daemon chose.
    /// </summary>
    public static async Task<int> SendAsync(ControlRequest request, bool startDaemon, TextWriter stdout, TextWriter stderr, CancellationToken ct,
        string? controlPath = null)
    {
        string path = controlPath ?? ControlServer.DefaultPath;
        byte[] line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(request, ControlJson.Default.ControlRequest) + "\n");
        for (int attempt = 1; ; attempt++)
        {
            using var socket = await ConnectAsync(path, startDaemon, ct).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket);
            await stream.WriteAsync(line, ct).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            bool retry = false;
            while (!retry && await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } answer)
            {
                var (kind, text) = ControlReply.Parse(answer);
                switch (kind)
                {
                    case "out": stdout.WriteLine(text); break;
                    case "err": stderr.WriteLine(text); break;
                    case ControlReply.Retry: retry = true; break;
                    default: return int.TryParse(text, out int code) ? code : ExitCodes.Error;
                }
            }
            // The daemon we reached was exiting (idle): the next connection finds or starts a new one.
            if (!retry || attempt >= 3) throw new UserError($"the iscsi-up daemon closed the connection without an answer (see {LogHint})");
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    private static string LogHint => Directory.Exists("/run/systemd/system") ? "journalctl -u iscsi-upd.service" : DaemonLog.Path;

    private static async Task<Socket> ConnectAsync(string path, bool startDaemon, CancellationToken ct)
    {
        // Whoever can write the run directory could listen in the daemon's place and read our requests.
        Config.Paths.CheckTrusted(Path.GetDirectoryName(path)!);
        if (await TryConnectAsync(path, ct).ConfigureAwait(false) is { } socket) return socket;
        if (!startDaemon) throw new UserError($"the iscsi-up daemon is not running (no one listens on {path})", ExitCodes.SessionNotFound);

        var deadline = DateTime.UtcNow + SpawnTimeout;
        while (DateTime.UtcNow < deadline)
        {
            using var daemon = Process.Start(SelfCommand(["daemon", "--spawned"])) ?? throw new UserError("cannot start the iscsi-up daemon");
            while (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
                if (await TryConnectAsync(path, ct).ConfigureAwait(false) is { } ready) return ready;
                if (!daemon.HasExited) continue;
                if (daemon.ExitCode != 0)
                    throw new UserError($"the iscsi-up daemon did not start (exit {daemon.ExitCode}): {DaemonLog.LastLine() ?? "no message"}");
                // It found another daemon holding the lock: that one is starting (it will answer) or exiting (then
                // start again after a moment).
                await Task.Delay(200, ct).ConfigureAwait(false);
                break;
            }
        }
        throw new UserError($"the iscsi-up daemon did not open {path} within {SpawnTimeout.TotalSeconds:0} s (see {DaemonLog.Path})");
    }

    private static ProcessStartInfo SelfCommand(IEnumerable<string> args)
    {
        var start = Sessions.SelfCommand.StartInfo(args);
        // The daemon outlives this command: it must not hold our stdout/stderr (a caller reading them to the end
        // would wait for the daemon). It points them at its log at once; until then they go nowhere.
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        return start;
    }

    private static async Task<Socket?> TryConnectAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path)) return null;
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            socket.Dispose();
            return null; // a stale socket file: its daemon is gone
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
        {
            socket.Dispose();
            throw new UserError($"permission denied on {path}: the iscsi-up daemon only takes requests from root");
        }
    }
}
