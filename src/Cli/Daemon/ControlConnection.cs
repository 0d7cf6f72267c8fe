using System.Net.Sockets;
using System.Text;

namespace IscsiUp.Cli.Daemon;

/// <summary>One client of the control socket: its request line in, reply lines out (see <see cref="ControlReply"/>).</summary>
public sealed class ControlConnection(Socket socket) : IDisposable
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: true);
    private readonly Lock _writeGate = new();
    private bool _gone;

    /// <summary>Sends one reply line; a client that went away is ignored (the daemon's work goes on).</summary>
    public void WriteLine(string line)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line.Replace('\n', ' ') + "\n");
        lock (_writeGate)
        {
            if (_gone) return;
            try { _stream.Write(bytes); }
            catch (IOException) { _gone = true; }
            catch (ObjectDisposedException) { _gone = true; }
        }
    }

    public void Out(string text) => WriteLine(ControlReply.Out(text));
    public void Err(string text) => WriteLine(ControlReply.Err(text));

    /// <summary>
    /// Reads the one request line: null when the client left without one, "" when it was longer than 64 KiB (a
    /// request is small; the rest of such a line is read and dropped so the client still gets its answer).
    /// </summary>
    public async Task<string?> ReadRequestAsync(CancellationToken ct)
    {
        const int Limit = 64 * 1024, DrainLimit = 16 << 20;
        var line = new MemoryStream();
        var buffer = new byte[4096];
        long seen = 0;
        while (seen < DrainLimit)
        {
            int read = await _stream.ReadAsync(buffer, ct).ConfigureAwait(false);
            if (read == 0) return null;
            int newline = Array.IndexOf(buffer, (byte)'\n', 0, read);
            int take = newline < 0 ? read : newline;
            if (line.Length + take <= Limit) line.Write(buffer, 0, take);
            seen += take;
            if (newline >= 0) return seen > Limit ? "" : Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length);
        }
        return "";
    }

    /// <summary>The uid of the process at the other end (SO_PEERCRED), or -1 if the kernel does not say.</summary>
    public long PeerUid()
    {
        const int SolSocket = 1, SoPeerCred = 17;
        Span<byte> credentials = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try
        {
            int length = socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials);
            return length >= 8 ? BitConverter.ToUInt32(credentials[4..8]) : -1;
        }
        catch (SocketException) { return -1; }
    }

    public void Dispose() => _stream.Dispose();
}
