using System.Net;
using System.Net.Sockets;
using IscsiUp.Io;

namespace IscsiUp.Initiator.Tests.Io;

public class SendBatchTests
{
    /// <summary>Stands for a socket: counts what reaches it, or fails every write.</summary>
    private sealed class SocketStandIn(bool fail = false) : Stream
    {
        public MemoryStream Received { get; } = new();
        public int Sends { get; private set; }

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (fail) throw new IOException("connection reset by peer");
            Sends++;
            Received.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Write(buffer.ToArray(), 0, buffer.Length);
            return ValueTask.CompletedTask;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>A buffered socket stand-in with its write lock (which must not report failures) and a batch.</summary>
    private static (SocketStandIn Socket, BufferedStream Buffered, CoalescingWriteLock Lock, SendBatch Batch) NewWriter()
    {
        var socket = new SocketStandIn();
        var buffered = new BufferedStream(socket, 4096);
        return (socket, buffered, new CoalescingWriteLock(buffered, e => Assert.Fail($"unexpected failure: {e.Message}")), new SendBatch());
    }

    /// <summary>One writer's turn, done synchronously as a receive loop's inline work does it.</summary>
    private static void WriteOnce(CoalescingWriteLock writeLock, Stream buffered, byte value)
    {
        Assert.True(writeLock.EnterAsync(CancellationToken.None).IsCompletedSuccessfully);
        buffered.Write([value, value, value, value]);
        Assert.True(writeLock.ExitAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Writes_inside_an_active_batch_go_out_together_when_the_batch_flushes()
    {
        var (socket, buffered, writeLock, batch) = NewWriter();

        using (batch.Activate())
        {
            WriteOnce(writeLock, buffered, 1);
            WriteOnce(writeLock, buffered, 2);
            WriteOnce(writeLock, buffered, 3);
        }
        Assert.Equal(0, socket.Received.Length);
        Assert.True(batch.HasDeferred);

        await batch.FlushAsync();
        Assert.Equal(new byte[] { 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 }, socket.Received.ToArray());
        Assert.Equal(1, socket.Sends);
        Assert.False(batch.HasDeferred);
    }

    [Fact]
    public void A_writer_outside_the_scope_or_on_another_thread_flushes_at_once()
    {
        var (socket, buffered, writeLock, batch) = NewWriter();

        // A thread of its own, joined: a scope must never span an await (this thread would go back to the pool
        // with the batch still current on it and could run the other writer itself).
        using (batch.Activate())
        {
            Exception? failed = null;
            var other = new Thread(() =>
            {
                try { WriteOnce(writeLock, buffered, 7); }
                catch (Exception e) { failed = e; }
            });
            other.Start();
            other.Join();
            Assert.Null(failed);
        }
        Assert.Equal(4, socket.Received.Length);

        WriteOnce(writeLock, buffered, 8);
        Assert.Equal(8, socket.Received.Length);
        Assert.False(batch.HasDeferred);
    }

    [Fact]
    public async Task A_held_back_flush_that_fails_is_reported_to_the_lock_owner_not_to_the_loop()
    {
        var socket = new SocketStandIn(fail: true);
        var buffered = new BufferedStream(socket, 4096);
        Exception? reported = null;
        var writeLock = new CoalescingWriteLock(buffered, e => reported = e);
        var batch = new SendBatch();

        using (batch.Activate())
            WriteOnce(writeLock, buffered, 1);
        await batch.FlushAsync();

        Assert.IsType<IOException>(reported);
        Assert.Contains("connection reset", reported.Message);
    }

    [Fact]
    public async Task A_read_that_has_to_wait_pushes_out_the_held_back_sends_first()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var server = await listener.AcceptTcpClientAsync();
        var clientStream = client.GetStream();
        var serverStream = server.GetStream();

        // The client holds back a request, then reads the answer to it: the read must send the request.
        var buffered = new BufferedStream(clientStream, 4096);
        var writeLock = new CoalescingWriteLock(buffered, e => Assert.Fail($"unexpected failure: {e.Message}"));
        var batch = new SendBatch();
        var reader = new SendBatchReadStream(clientStream, batch);
        using (batch.Activate())
            WriteOnce(writeLock, buffered, 5);

        var answer = new byte[4];
        var read = reader.ReadAsync(answer).AsTask();
        var request = new byte[4];
        await serverStream.ReadExactlyAsync(request).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new byte[] { 5, 5, 5, 5 }, request);
        Assert.False(read.IsCompleted);

        await serverStream.WriteAsync(new byte[] { 6, 6, 6, 6 });
        Assert.Equal(4, await read.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(new byte[] { 6, 6, 6, 6 }, answer);
    }

    [Fact]
    public async Task A_read_served_at_once_keeps_the_batch_going()
    {
        var (socket, buffered, writeLock, batch) = NewWriter();
        var reader = new SendBatchReadStream(new MemoryStream([9, 9, 9, 9]), batch);
        using (batch.Activate())
            WriteOnce(writeLock, buffered, 1);

        Assert.Equal(4, await reader.ReadAsync(new byte[4]));
        Assert.Equal(0, socket.Received.Length);
        Assert.True(batch.HasDeferred);
    }
}
