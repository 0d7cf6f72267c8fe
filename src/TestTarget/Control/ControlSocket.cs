using System.Net.Sockets;
using System.Text;

namespace IscsiUp.TestTarget.Control;

/// <summary>
/// A Unix socket that takes one command line per connection and answers one line (see <see cref="LunInventory"/>),
/// so a test or a shell script (`iscsi-test-target control PATH ...`, or socat) changes the LUNs of a running target.
/// </summary>
public sealed class ControlSocket : IAsyncDisposable
{
    private const int MaxLine = 1024;

    private readonly Socket _listener;
    private readonly LunInventory _inventory;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _acceptLoop;

    private ControlSocket(string path, Socket listener, LunInventory inventory)
    {
        Path = path;
        _listener = listener;
        _inventory = inventory;
        _acceptLoop = AcceptLoopAsync();
    }

    public string Path { get; }

    /// <summary>Everything the socket was asked and what it answered.</summary>
    public event Action<string>? Log;

    /// <summary>Listens on <paramref name="path"/>, replacing what is there (a socket left by an earlier run).</summary>
    public static ControlSocket Start(string path, LunInventory inventory)
    {
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(8);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return new ControlSocket(path, listener, inventory);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => AnswerAsync(client));
        }
    }

    private async Task AnswerAsync(Socket client)
    {
        using (client)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                string? line = await ReadLineAsync(client, timeout.Token).ConfigureAwait(false);
                if (line is null) return;
                string answer = _inventory.Execute(line);
                Log?.Invoke($"control: {line.Trim()}: {answer}");
                await client.SendAsync(Encoding.UTF8.GetBytes(answer + "\n"), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException) { }
        }
    }

    /// <summary>Reads up to a newline or the end of the client's sending side.</summary>
    private static async Task<string?> ReadLineAsync(Socket client, CancellationToken ct)
    {
        var bytes = new List<byte>();
        var buffer = new byte[256];
        while (bytes.Count < MaxLine)
        {
            int read = await client.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0) break;
            int newline = Array.IndexOf(buffer, (byte)'\n', 0, read);
            bytes.AddRange(buffer.AsSpan(0, newline < 0 ? read : newline));
            if (newline >= 0) break;
        }
        return bytes.Count == 0 ? null : Encoding.UTF8.GetString([.. bytes]);
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        _stopping.Dispose();
        try { File.Delete(Path); } catch (IOException) { }
    }

    /// <summary>Sends one command to the socket at <paramref name="path"/> and returns the answer line (the client side).</summary>
    public static async Task<string> SendAsync(string path, string command, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
        await socket.SendAsync(Encoding.UTF8.GetBytes(command + "\n"), SocketFlags.None, ct).ConfigureAwait(false);
        return await ReadLineAsync(socket, ct).ConfigureAwait(false) ?? "error: the target closed the control connection without answering";
    }
}
