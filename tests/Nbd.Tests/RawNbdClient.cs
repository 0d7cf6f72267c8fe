using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using IscsiUp.Nbd;
using Tmds.Linux;

namespace IscsiUp.Nbd.Tests;

/// <summary>A hand-driven NBD client for protocol tests: every read is bounded by a timeout.</summary>
public sealed class RawNbdClient : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    public RawNbdClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public Socket Socket => _socket;

    public static async Task<RawNbdClient> ConnectTcpAsync(IPEndPoint endpoint)
    {
        var s = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(endpoint);
        return new RawNbdClient(s);
    }

    public static async Task<RawNbdClient> ConnectUnixAsync(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return new RawNbdClient(s);
    }

    /// <summary>A connected AF_UNIX stream socket pair, as handed to the kernel NBD client.</summary>
    public static unsafe (Socket Server, Socket Client) SocketPair()
    {
        int* fds = stackalloc int[2];
        if (LibC.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0, fds) != 0)
            throw new IOException("socketpair failed");
        return (new Socket(new SafeSocketHandle(fds[0], true)), new Socket(new SafeSocketHandle(fds[1], true)));
    }

    // ---- handshake ----

    /// <summary>Reads NBDMAGIC, IHAVEOPT and the handshake flags.</summary>
    public async Task<ushort> ReadGreetingAsync()
    {
        var g = await ReadBytesAsync(18);
        Assert.Equal(NbdConstants.NbdMagic, BinaryPrimitives.ReadUInt64BigEndian(g));
        Assert.Equal(NbdConstants.IHaveOpt, BinaryPrimitives.ReadUInt64BigEndian(g.AsSpan(8)));
        return BinaryPrimitives.ReadUInt16BigEndian(g.AsSpan(16));
    }

    public async Task StartHandshakeAsync(uint clientFlags = NbdConstants.ClientFlagFixedNewstyle | NbdConstants.ClientFlagNoZeroes)
    {
        await ReadGreetingAsync();
        var f = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(f, clientFlags);
        await WriteAsync(f);
    }

    public async Task SendOptionAsync(uint option, byte[]? data = null, ulong magic = NbdConstants.IHaveOpt)
    {
        data ??= [];
        var m = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(m, magic);
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(12), (uint)data.Length);
        data.CopyTo(m, 16);
        await WriteAsync(m);
    }

    public async Task<(uint Option, uint Type, byte[] Data)> ReadOptionReplyAsync()
    {
        var h = await ReadBytesAsync(20);
        Assert.Equal(NbdConstants.OptionReplyMagic, BinaryPrimitives.ReadUInt64BigEndian(h));
        uint len = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16));
        Assert.True(len < 1024 * 1024);
        var data = await ReadBytesAsync((int)len);
        return (BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12)), data);
    }

    /// <summary>Data of NBD_OPT_INFO / NBD_OPT_GO.</summary>
    public static byte[] InfoRequest(string name, params ushort[] infos)
    {
        var n = Encoding.UTF8.GetBytes(name);
        var d = new byte[4 + n.Length + 2 + 2 * infos.Length];
        BinaryPrimitives.WriteUInt32BigEndian(d, (uint)n.Length);
        n.CopyTo(d, 4);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(4 + n.Length), (ushort)infos.Length);
        for (int i = 0; i < infos.Length; i++)
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(6 + n.Length + 2 * i), infos[i]);
        return d;
    }

    /// <summary>Sends NBD_OPT_GO and reads replies up to the final one; returns the NBD_REP_INFO payloads and the final type.</summary>
    public async Task<(List<byte[]> Infos, uint Final, byte[] FinalData)> GoAsync(string name, uint option = NbdConstants.OptGo, params ushort[] infos)
    {
        await SendOptionAsync(option, InfoRequest(name, infos));
        var list = new List<byte[]>();
        while (true)
        {
            var (opt, type, data) = await ReadOptionReplyAsync();
            Assert.Equal(option, opt);
            if (type == NbdConstants.RepInfo)
            {
                list.Add(data);
                continue;
            }
            return (list, type, data);
        }
    }

    // ---- transmission ----

    public async Task SendRequestAsync(ushort type, ulong cookie, ulong offset, uint length, ushort flags = 0, ReadOnlyMemory<byte> payload = default, uint magic = NbdConstants.RequestMagic)
    {
        var m = new byte[NbdConstants.RequestHeaderLength + payload.Length];
        new NbdRequest(flags, type, cookie, offset, length).WriteTo(m);
        if (magic != NbdConstants.RequestMagic)
            BinaryPrimitives.WriteUInt32BigEndian(m, magic);
        payload.Span.CopyTo(m.AsSpan(NbdConstants.RequestHeaderLength));
        await WriteAsync(m);
    }

    public async Task<(uint Error, ulong Cookie)> ReadSimpleReplyAsync()
    {
        var h = await ReadBytesAsync(16);
        Assert.Equal(NbdConstants.SimpleReplyMagic, BinaryPrimitives.ReadUInt32BigEndian(h));
        return (BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(4)), BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(8)));
    }

    public async Task<(ushort Flags, ushort Type, ulong Cookie, byte[] Payload)> ReadStructuredChunkAsync()
    {
        var h = await ReadBytesAsync(20);
        Assert.Equal(NbdConstants.StructuredReplyMagic, BinaryPrimitives.ReadUInt32BigEndian(h));
        uint len = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16));
        var payload = await ReadBytesAsync((int)len);
        return (BinaryPrimitives.ReadUInt16BigEndian(h.AsSpan(4)), BinaryPrimitives.ReadUInt16BigEndian(h.AsSpan(6)),
            BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(8)), payload);
    }

    public async Task<byte[]> ReadBytesAsync(int count)
    {
        var b = new byte[count];
        using var cts = new CancellationTokenSource(ReadTimeout);
        await _stream.ReadExactlyAsync(b, cts.Token);
        return b;
    }

    /// <summary>True when the server closes the connection (EOF or reset) within the timeout.</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? ReadTimeout);
        var b = new byte[4096];
        try
        {
            while (true)
            {
                int n = await _stream.ReadAsync(b, cts.Token);
                if (n == 0)
                    return true;
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async Task WriteAsync(ReadOnlyMemory<byte> data)
    {
        using var cts = new CancellationTokenSource(ReadTimeout);
        await _stream.WriteAsync(data, cts.Token);
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
