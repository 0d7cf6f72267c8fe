using System.Net.Sockets;
using System.Text;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// The daemon's root-only control socket (/run/iscsi-up/control.sock, mode 0600): one line in ("logout ID"),
/// one line out ("ok" or "error: ..."). Lets `iscsi-up logout` end one of several sessions the daemon holds.
/// </summary>
public sealed class ControlSocket(Func<string, Task<string>> handle) : IDisposable
{
    public static string DefaultPath => Path.Combine(Config.Paths.RunDir, "control.sock");

    private Socket? _listener;

    public void Start(string path, CancellationToken ct)
    {
        Config.Paths.EnsurePrivateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path)) File.Delete(path);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _listener.Listen(16);
        _ = Task.Run(() => AcceptLoopAsync(_listener, ct), ct);
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.AcceptAsync(ct).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            _ = Task.Run(async () =>
            {
                using (client)
                await using (var stream = new NetworkStream(client))
                {
                    using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
                    string? request = await reader.ReadLineAsync(ct).ConfigureAwait(false);
                    string reply = request is null ? "error: empty request" : await handle(request).ConfigureAwait(false);
                    await stream.WriteAsync(Encoding.UTF8.GetBytes(reply + "\n"), ct).ConfigureAwait(false);
                }
            }, ct);
        }
    }

    /// <summary>Sends one request to a daemon and returns its answer line.</summary>
    public static async Task<string> RequestAsync(string path, string request, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request + "\n"), cts.Token).ConfigureAwait(false);
        using var reader = new StreamReader(stream);
        return await reader.ReadLineAsync(cts.Token).ConfigureAwait(false) ?? "error: no answer";
    }

    public void Dispose() => _listener?.Dispose();
}
