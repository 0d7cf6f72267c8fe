using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Net.Sockets;
using IscsiUp.Nbd;
using Tmds.Linux;
using Xunit.Abstractions;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Nbd.Tests;

/// <summary>Listener policy, lifecycle and robustness of <see cref="NbdServer"/>.</summary>
public sealed class NbdServerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static async Task<RawNbdClient> ConnectGoAsync(NbdTestServer server, string name = "disk")
    {
        var c = await RawNbdClient.ConnectTcpAsync(server.Endpoint);
        await c.StartHandshakeAsync();
        Assert.Equal(RepAck, (await c.GoAsync(name)).Final);
        return c;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Tcp_listen_is_loopback_only_unless_allowed()
    {
        await using var server = new NbdServer(new NbdExport("d", new MemoryBackend(capacity: 1024 * 1024)));
        Assert.Throws<ArgumentException>(() => server.ListenTcp(new IPEndPoint(IPAddress.Any, 0)));
        Assert.Throws<ArgumentException>(() => server.ListenTcp(new IPEndPoint(IPAddress.IPv6Any, 0)));
        Assert.Throws<ArgumentException>(() => server.ListenTcp(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 0)));
        var ep = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.NotEqual(0, ep.Port);
    }

    [Fact]
    public async Task Unix_listener_is_private_replaces_stale_sockets_and_is_removed_on_stop()
    {
        string dir = Path.Combine(Path.GetTempPath(), "nbdu-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "sock");
            CreateStaleSocket(path);
            Assert.True(File.Exists(path));

            var server = new NbdServer(new NbdExport("d", new MemoryBackend(capacity: 1024 * 1024))) { Log = output.WriteLine };
            server.ListenUnix(path);
            await server.StartAsync();
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

            // A live server's socket is not taken over.
            await using (var second = new NbdServer())
                Assert.Throws<IOException>(() => second.ListenUnix(path));

            await using (var c = await RawNbdClient.ConnectUnixAsync(path))
            {
                await c.StartHandshakeAsync();
                Assert.Equal(RepAck, (await c.GoAsync("")).Final);
            }
            await server.StopAsync().WaitAsync(Bound);
            Assert.False(File.Exists(path));

            string regular = Path.Combine(dir, "file");
            await File.WriteAllTextAsync(regular, "not a socket");
            await using (var third = new NbdServer())
                Assert.Throws<IOException>(() => third.ListenUnix(regular));
            Assert.True(File.Exists(regular));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Leaves a bound, closed unix socket behind, as a killed server would (.NET unlinks its own on close).</summary>
    private static unsafe void CreateStaleSocket(string path)
    {
        int fd = LibC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM, 0);
        Assert.True(fd >= 0);
        var addr = new byte[2 + Encoding.UTF8.GetByteCount(path) + 1];
        BinaryPrimitives.WriteUInt16LittleEndian(addr, (ushort)LibC.AF_UNIX);
        Encoding.UTF8.GetBytes(path, addr.AsSpan(2));
        try
        {
            fixed (byte* p = addr)
                Assert.Equal(0, LibC.bind(fd, (sockaddr*)p, (socklen_t)addr.Length));
        }
        finally
        {
            LibC.close(fd);
        }
    }

    [Fact]
    public async Task Client_vanishing_with_requests_in_flight_does_not_hurt_the_server()
    {
        await using var server = new NbdTestServer(output, new MemoryBackend(capacity: 8 * 1024 * 1024));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Backend.Delay = (_, _, ct) => gate.Task.WaitAsync(ct);

        await using (var c = await ConnectGoAsync(server))
        {
            for (int i = 0; i < 20; i++)
                await c.SendRequestAsync(CmdRead, (ulong)i, (ulong)i * 4096, 4096);
            for (int i = 0; i < 5; i++)
                await c.SendRequestAsync(CmdWrite, 100 + (ulong)i, (ulong)i * 4096, 4096, payload: new byte[4096]);
            await WaitUntilAsync(() => server.Backend.PeakConcurrency >= 20, "requests did not reach the backend");
        }
        // The in-flight backend calls are cancelled and the connection is cleaned up.
        await WaitUntilAsync(() => server.Server.ConnectionCount == 0, "connection was not cleaned up");
        Assert.True(Interlocked.Read(ref server.Backend.Cancelled) >= 20);
        Assert.Contains(server.Logs, l => l.Contains("client closed the connection", StringComparison.Ordinal));

        // A client that does not read its (large) replies and then disappears.
        server.Backend.Delay = null;
        await using (var c = await ConnectGoAsync(server))
        {
            for (int i = 0; i < 64; i++)
                await c.SendRequestAsync(CmdRead, (ulong)i, 0, 1024 * 1024);
            c.Socket.LingerState = new LingerOption(true, 0);
        }
        await WaitUntilAsync(() => server.Server.ConnectionCount == 0, "connection was not cleaned up");

        // The next client is served normally.
        await using var next = await ConnectGoAsync(server);
        await next.SendRequestAsync(CmdWrite, 1, 0, 512, payload: Enumerable.Repeat((byte)7, 512).ToArray());
        Assert.Equal((0u, 1ul), await next.ReadSimpleReplyAsync());
        await next.SendRequestAsync(CmdRead, 2, 0, 512);
        Assert.Equal((0u, 2ul), await next.ReadSimpleReplyAsync());
        Assert.All(await next.ReadBytesAsync(512), b => Assert.Equal(7, b));
    }

    [Fact]
    public async Task Many_clients_at_once_each_get_their_own_data()
    {
        await using var server = new NbdTestServer(output, new MemoryBackend(capacity: 8 * 1024 * 1024));
        var tasks = Enumerable.Range(0, 8).Select(async n =>
        {
            await using var c = await ConnectGoAsync(server);
            var data = Enumerable.Repeat((byte)(n + 1), 65536).ToArray();
            ulong offset = (ulong)n * 65536;
            await c.SendRequestAsync(CmdWrite, 1, offset, 65536, payload: data);
            Assert.Equal((0u, 1ul), await c.ReadSimpleReplyAsync());
            await c.SendRequestAsync(CmdRead, 2, offset, 65536);
            Assert.Equal((0u, 2ul), await c.ReadSimpleReplyAsync());
            Assert.Equal(data, await c.ReadBytesAsync(65536));
            await c.SendRequestAsync(CmdDisc, 3, 0, 0);
        });
        await Task.WhenAll(tasks).WaitAsync(Bound);
        Assert.Empty(server.Backend.Violations);
    }

    [Fact]
    public async Task Stop_closes_connections_and_listeners()
    {
        var server = new NbdTestServer(output, new MemoryBackend(capacity: 1024 * 1024));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Backend.Delay = (_, _, ct) => gate.Task.WaitAsync(ct);
        await using var c = await ConnectGoAsync(server);
        await c.SendRequestAsync(CmdRead, 1, 0, 512);
        await WaitUntilAsync(() => server.Backend.PeakConcurrency == 1, "read did not start");

        await server.Server.StopAsync().WaitAsync(Bound);
        Assert.True(await c.IsClosedByServerAsync());
        Assert.Equal(0, server.Server.ConnectionCount);
        Assert.False(File.Exists(server.SocketPath));
        Assert.Throws<ObjectDisposedException>(() => server.Server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0)));
        await Assert.ThrowsAnyAsync<SocketException>(() => RawNbdClient.ConnectTcpAsync(server.Endpoint));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Idle_handshake_times_out()
    {
        var logs = new List<string>();
        await using var server = new NbdServer(new NbdExport("d", new MemoryBackend(capacity: 1024 * 1024)))
        {
            HandshakeTimeout = TimeSpan.FromMilliseconds(300),
            Log = l => { lock (logs) logs.Add(l); },
        };
        var ep = server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        await server.StartAsync();
        await using var c = await RawNbdClient.ConnectTcpAsync(ep);
        await c.ReadGreetingAsync();
        Assert.True(await c.IsClosedByServerAsync(TimeSpan.FromSeconds(5)));
        await WaitUntilAsync(() => { lock (logs) return logs.Any(l => l.Contains("timed out", StringComparison.Ordinal)); }, "no timeout log");
    }

    [Fact]
    public async Task Exports_can_be_added_and_removed()
    {
        await using var server = new NbdTestServer(output, new MemoryBackend(capacity: 1024 * 1024));
        Assert.Throws<ArgumentException>(() => server.Server.AddExport(new NbdExport("disk", new MemoryBackend(capacity: 512))));
        server.Server.AddExport(new NbdExport("late", new MemoryBackend(capacity: 512 * 1024)));
        await using (var c = await ConnectGoAsync(server, "late"))
        {
        }
        Assert.True(server.Server.RemoveExport("late"));
        await using var d = await RawNbdClient.ConnectTcpAsync(server.Endpoint);
        await d.StartHandshakeAsync();
        Assert.Equal(RepErrUnknown, (await d.GoAsync("late")).Final);
    }

    [Fact]
    public void Export_validates_backend_and_derives_block_sizes()
    {
        Assert.Throws<ArgumentException>(() => new NbdExport("x", new MemoryBackend(capacity: 4096, maxTransferLength: 256)));
        Assert.Throws<ArgumentException>(() => new NbdExport("x", new MemoryBackend(capacity: 4096, blockSize: 768)));
        Assert.Throws<ArgumentException>(() => new NbdExport(new string('n', 5000), new MemoryBackend(capacity: 4096)));
        Assert.Throws<ArgumentException>(() => new NbdExport("a\0b", new MemoryBackend(capacity: 4096)));

        var e = new NbdExport("x", new MemoryBackend(capacity: 1 << 20, blockSize: 4096) { PreferredBlockSize = 24576 });
        Assert.Equal(4096u, e.MinimumBlockSize);
        Assert.Equal(16384u, e.PreferredBlockSize);
        Assert.Equal((uint)MaxPayloadLength, e.MaximumBlockSize);
        e = new NbdExport("y", new MemoryBackend(capacity: 1 << 20) { PreferredBlockSize = 1 });
        Assert.Equal(512u, e.PreferredBlockSize);
    }
}
