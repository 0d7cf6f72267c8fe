using System.Net;
using System.Net.Sockets;
using IscsiUp.Io;

namespace IscsiUp.Initiator.Tests.Io;

public class GatherWriteStreamTests
{
    private const int BufferSize = 64 * 1024;

    /// <summary>A connected loopback TCP pair: ours writes, the peer reads.</summary>
    private static async Task<(Socket Ours, Socket Peer)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var ours = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptAsync();
        await ours.ConnectAsync(listener.LocalEndPoint!);
        return (ours, await accept);
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket peer, int length)
    {
        var received = new byte[length];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (int got = 0; got < length;)
        {
            int n = await peer.ReceiveAsync(received.AsMemory(got), SocketFlags.None, timeout.Token);
            Assert.True(n > 0, $"peer closed after {got} of {length} bytes");
            got += n;
        }
        return received;
    }

    [Fact]
    public async Task Small_writes_stay_buffered_until_the_flush_and_arrive_in_order()
    {
        var (ours, peer) = await ConnectedPairAsync();
        using var _ = ours; using var __ = peer;
        var stream = new GatherWriteStream(ours, BufferSize);
        byte[] a = Pattern(48, 1), b = Pattern(4096, 2), c = Pattern(100, 3);

        await stream.WriteAsync(a);
        await stream.WriteAsync(b);
        await stream.WriteAsync(c);
        Assert.False(peer.Poll(TimeSpan.FromMilliseconds(200), SelectMode.SelectRead), "bytes left before the flush");

        await stream.FlushAsync();
        Assert.Equal(a.Concat(b).Concat(c).ToArray(), await ReceiveExactlyAsync(peer, a.Length + b.Length + c.Length));
    }

    [Fact]
    public async Task A_large_write_leaves_at_once_together_with_the_header_buffered_before_it()
    {
        var (ours, peer) = await ConnectedPairAsync();
        using var _ = ours; using var __ = peer;
        var stream = new GatherWriteStream(ours, BufferSize);
        byte[] header = Pattern(48, 4), payload = Pattern(256 * 1024, 5);

        await stream.WriteAsync(header);
        var write = stream.WriteAsync(payload).AsTask();
        // No flush: the payload is too large to copy, so it goes now, and the header must not be left behind.
        var received = await ReceiveExactlyAsync(peer, header.Length + payload.Length);
        await write;
        Assert.Equal(header.Concat(payload).ToArray(), received);
        Assert.False(peer.Poll(TimeSpan.FromMilliseconds(100), SelectMode.SelectRead), "more bytes than were written");
    }

    [Fact]
    public async Task Writes_of_every_size_around_the_buffer_keep_their_order()
    {
        var (ours, peer) = await ConnectedPairAsync();
        using var _ = ours; using var __ = peer;
        var stream = new GatherWriteStream(ours, BufferSize);
        int[] sizes = [48, 60 * 1024, 8 * 1024, 48, BufferSize / 2, 1, BufferSize, 48, 3 * BufferSize + 7, 20 * 1024, 48];
        var pieces = sizes.Select((size, i) => Pattern(size, 100 + i)).ToArray();
        int total = sizes.Sum();
        var receiving = ReceiveExactlyAsync(peer, total);

        foreach (var piece in pieces)
            await stream.WriteAsync(piece);
        await stream.FlushAsync();
        Assert.Equal(pieces.SelectMany(p => p).ToArray(), await receiving);
    }

    [Fact]
    public async Task Writing_to_a_connection_the_peer_reset_fails_with_an_IOException()
    {
        var (ours, peer) = await ConnectedPairAsync();
        using var _ = ours;
        peer.LingerState = new LingerOption(true, 0); // close with a reset
        peer.Close();
        var stream = new GatherWriteStream(ours, BufferSize);
        var header = Pattern(48, 6);
        var payload = Pattern(256 * 1024, 7);

        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            for (int i = 0; i < 100; i++) // the first send may still be accepted before the reset is seen
            {
                await stream.WriteAsync(header);
                await stream.WriteAsync(payload);
                await Task.Delay(10);
            }
        });
        Assert.StartsWith("Unable to write data to the transport connection", error.Message);
    }

    [Fact]
    public async Task A_socket_closed_under_the_writer_fails_the_flush_and_the_gathered_send_as_IOException()
    {
        // A session aborted by another thread closes its socket while a writer (a NOP-Out ping) is sending: the
        // writer must see a failed write (callers handle IOException), not an ObjectDisposedException.
        var (ours, peer) = await ConnectedPairAsync();
        using var __ = peer;
        var stream = new GatherWriteStream(ours, BufferSize);
        await stream.WriteAsync(Pattern(48, 8));
        ours.Dispose();

        var flush = await Assert.ThrowsAsync<IOException>(() => stream.FlushAsync());
        Assert.Contains("Unable to write data to the transport connection", flush.Message);

        await stream.WriteAsync(Pattern(48, 9));
        await Assert.ThrowsAsync<IOException>(() => stream.WriteAsync(Pattern(256 * 1024, 10)).AsTask());
    }
}
