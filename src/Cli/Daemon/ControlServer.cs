using System.Net.Sockets;
using System.Text.Json;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// The daemon's control socket, /run/iscsi-up/control.sock (mode 0600, root only; connections from another uid
/// are refused as well): one JSON request line in, reply lines out. Either bound here or handed over by systemd
/// (iscsi-upd.socket).
/// </summary>
public sealed class ControlServer(Func<ControlRequest, ControlConnection, CancellationToken, Task<int>> handle) : IDisposable
{
    public static string DefaultPath => Path.Combine(Config.Paths.RunDir, "control.sock");

    private Socket? _listener;
    private int _active;

    /// <summary>Requests being answered right now.</summary>
    public int ActiveRequests => Volatile.Read(ref _active);

    public void Bind(string path)
    {
        Config.Paths.EnsurePrivateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path)) File.Delete(path); // a stale socket of a daemon that is gone: we hold the daemon lock
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        listener.Listen(64);
        _listener = listener;
    }

    public void Adopt(Socket listener) => _listener = listener;

    public async Task RunAsync(CancellationToken ct)
    {
        var listener = _listener ?? throw new InvalidOperationException("the control socket is not bound");
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.AcceptAsync(ct).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            Interlocked.Increment(ref _active);
            _ = Task.Run(async () =>
            {
                try { await ServeAsync(client, ct).ConfigureAwait(false); }
                finally { Interlocked.Decrement(ref _active); }
            }, CancellationToken.None);
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken ct)
    {
        using var connection = new ControlConnection(socket);
        long uid = connection.PeerUid();
        if (uid != Tmds.Linux.LibC.geteuid() && uid != 0)
        {
            connection.Err($"iscsi-up: the daemon only takes requests from root (you are uid {uid})");
            connection.WriteLine(ControlReply.Exit(ExitCodes.Error));
            return;
        }
        int code;
        try
        {
            string? line = await connection.ReadRequestAsync(ct).ConfigureAwait(false);
            if (line is null) return;
            ControlRequest? request;
            try { request = JsonSerializer.Deserialize(line, ControlJson.Default.ControlRequest); }
            catch (JsonException) { request = null; }
            if (request is null)
            {
                connection.Err("iscsi-up: the daemon did not understand the request (is the iscsi-up command the same version as the daemon?)");
                code = ExitCodes.InvalidArgument;
            }
            else code = await handle(request, connection, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            connection.Err("iscsi-up: the daemon is stopping");
            code = ExitCodes.Error;
        }
        catch (Exception e)
        {
            var (message, exit) = ErrorReporter.Classify(e);
            connection.Err("iscsi-up: " + message);
            code = exit;
        }
        connection.WriteLine(ControlReply.Exit(code));
    }

    /// <summary>Stops accepting; requests in progress finish.</summary>
    public void Dispose() => _listener?.Dispose();
}
