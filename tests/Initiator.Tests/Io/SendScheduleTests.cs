using System.Net;
using System.Net.Sockets;
using IscsiUp.Io;

namespace IscsiUp.Initiator.Tests.Io;

public class SendScheduleTests
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

    /// <summary>A buffered socket stand-in with its write lock (which must not report failures) on a schedule.</summary>
    private static (SocketStandIn Socket, BufferedStream Buffered, CoalescingWriteLock Lock) NewWriter(SendSchedule schedule)
    {
        var socket = new SocketStandIn();
        var buffered = new BufferedStream(socket, 4096);
        return (socket, buffered, new CoalescingWriteLock(buffered, schedule, e => Assert.Fail($"unexpected failure: {e.Message}")));
    }

    /// <summary>One writer's turn, done synchronously as a receive loop's inline work does it.</summary>
    private static void WriteOnce(CoalescingWriteLock writeLock, Stream buffered, byte value)
    {
        Assert.True(writeLock.EnterAsync(CancellationToken.None).IsCompletedSuccessfully);
        buffered.Write([value, value, value, value]);
        Assert.True(writeLock.ExitAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public void Writes_while_a_loop_holds_go_out_together_when_the_schedule_pushes()
    {
        var schedule = new SendSchedule();
        var (socket, buffered, writeLock) = NewWriter(schedule);

        using (schedule.Hold())
        {
            WriteOnce(writeLock, buffered, 1);
            WriteOnce(writeLock, buffered, 2);
            WriteOnce(writeLock, buffered, 3);
        }
        Assert.Equal(0, socket.Received.Length);
        Assert.True(schedule.HasHeldSends);

        schedule.Push();
        Assert.Equal(new byte[] { 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 }, socket.Received.ToArray());
        Assert.Equal(1, socket.Sends);
        Assert.False(schedule.HasHeldSends);
    }

    [Fact]
    public void Eight_commands_sent_while_eight_requests_are_at_hand_leave_in_one_send_and_their_replies_in_another()
    {
        // The session's two streams on one schedule: its iSCSI connection and an NBD client's replies.
        var schedule = new SendSchedule();
        var (iscsi, iscsiBuffered, iscsiLock) = NewWriter(schedule);
        var (nbd, nbdBuffered, nbdLock) = NewWriter(schedule);

        // The NBD loop read eight requests in one receive and dispatches them one by one.
        for (byte request = 0; request < 8; request++)
            using (schedule.Hold())
                WriteOnce(iscsiLock, iscsiBuffered, request);
        Assert.Equal(0, iscsi.Sends);
        schedule.Push(); // its next read has to wait
        Assert.Equal(1, iscsi.Sends);
        Assert.Equal(32, iscsi.Received.Length);

        // The iSCSI loop read the eight responses in one receive: the NBD replies leave together as well.
        for (byte response = 0; response < 8; response++)
            using (schedule.Hold())
                WriteOnce(nbdLock, nbdBuffered, response);
        schedule.Push();
        Assert.Equal(1, nbd.Sends);
        Assert.Equal(32, nbd.Received.Length);
        Assert.Equal(1, iscsi.Sends);
    }

    [Fact]
    public void A_writer_while_no_loop_holds_flushes_at_once()
    {
        var schedule = new SendSchedule();
        var (socket, buffered, writeLock) = NewWriter(schedule);

        using (schedule.Hold())
            WriteOnce(writeLock, buffered, 7);
        schedule.Push();
        Assert.Equal(4, socket.Received.Length);

        WriteOnce(writeLock, buffered, 8);
        Assert.Equal(8, socket.Received.Length);
        Assert.Equal(2, socket.Sends);
        Assert.False(schedule.HasHeldSends);
    }

    [Fact]
    public void A_writer_on_another_thread_while_a_loop_holds_leaves_with_the_loops_push()
    {
        // The schedule belongs to the session, not to a thread: what any writer sends while one of the session's
        // loops holds waits for that loop's push, which the loop makes before it waits.
        var schedule = new SendSchedule();
        var (socket, buffered, writeLock) = NewWriter(schedule);

        using (schedule.Hold())
        {
            WriteOnce(writeLock, buffered, 1);
            Exception? failed = null;
            var other = new Thread(() =>
            {
                try { WriteOnce(writeLock, buffered, 2); }
                catch (Exception e) { failed = e; }
            });
            other.Start();
            other.Join();
            Assert.Null(failed);
            Assert.Equal(0, socket.Sends);
        }
        schedule.Push();
        Assert.Equal(1, socket.Sends);
        Assert.Equal(new byte[] { 1, 1, 1, 1, 2, 2, 2, 2 }, socket.Received.ToArray());
    }

    [Fact]
    public void Without_a_schedule_every_burst_is_flushed_by_its_last_writer()
    {
        var socket = new SocketStandIn();
        var buffered = new BufferedStream(socket, 4096);
        var writeLock = new CoalescingWriteLock(buffered, null, e => Assert.Fail($"unexpected failure: {e.Message}"));

        WriteOnce(writeLock, buffered, 1);
        WriteOnce(writeLock, buffered, 2);
        Assert.Equal(2, socket.Sends);
    }

    [Fact]
    public void A_pushed_flush_that_fails_is_reported_to_the_lock_owner_not_to_the_loop()
    {
        var socket = new SocketStandIn(fail: true);
        var buffered = new BufferedStream(socket, 4096);
        Exception? reported = null;
        var schedule = new SendSchedule();
        var writeLock = new CoalescingWriteLock(buffered, schedule, e => reported = e);

        using (schedule.Hold())
            WriteOnce(writeLock, buffered, 1);
        schedule.Push();

        Assert.IsType<IOException>(reported);
        Assert.Contains("connection reset", reported.Message);
    }

    [Fact]
    public async Task A_read_that_has_to_wait_pushes_out_the_held_sends_first()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var server = await listener.AcceptTcpClientAsync();
        var clientStream = client.GetStream();
        var serverStream = server.GetStream();

        // The client holds a request, then reads the answer to it: the read must send the request.
        var buffered = new BufferedStream(clientStream, 4096);
        var schedule = new SendSchedule();
        var writeLock = new CoalescingWriteLock(buffered, schedule, e => Assert.Fail($"unexpected failure: {e.Message}"));
        var reader = new PushBeforeWaitingReadStream(clientStream, schedule);
        using (schedule.Hold())
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
    public async Task A_read_served_at_once_keeps_the_sends_held()
    {
        var schedule = new SendSchedule();
        var (socket, buffered, writeLock) = NewWriter(schedule);
        var reader = new PushBeforeWaitingReadStream(new MemoryStream([9, 9, 9, 9]), schedule);
        using (schedule.Hold())
            WriteOnce(writeLock, buffered, 1);

        Assert.Equal(4, await reader.ReadAsync(new byte[4]));
        Assert.Equal(0, socket.Received.Length);
        Assert.True(schedule.HasHeldSends);
    }
}
