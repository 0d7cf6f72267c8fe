namespace IscsiUp.Io;

/// <summary>
/// The read side of a socket for a loop whose sends follow a <see cref="SendSchedule"/>: a read that cannot
/// complete at once first pushes out the held sends (the answer it waits for may depend on them). Sits under the
/// loop's <see cref="ReceiveBuffer"/> (<see cref="SendSchedule.BufferedReader"/>), so only real socket reads get here.
/// </summary>
public sealed class PushBeforeWaitingReadStream(Stream inner, SendSchedule schedule) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
        schedule.PushBeforeWaiting(inner.ReadAsync(buffer, ct));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    // Synchronous reads cannot tell whether they will wait; nothing in the loops reads synchronously, so push first.
    public override int Read(byte[] buffer, int offset, int count)
    {
        schedule.Push();
        return inner.Read(buffer, offset, count);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
