using System.Runtime.CompilerServices;

namespace IscsiUp.Io;

/// <summary>
/// The buffered read side of one receive loop's socket. A BufferedStream does the same job but takes a
/// SemaphoreSlim on every async read, since it allows concurrent callers; a receive loop is the only reader, and
/// that lock (a Monitor enter and exit, twice per PDU or NBD request) was about a tenth of iscsi-up's CPU per
/// 4 KiB read in perf. Reads served from the buffer complete synchronously; a read at least as large as the
/// buffer, with the buffer empty, goes straight to the socket into the caller's memory (a Data-In payload lands
/// in the NBD reply without a copy). Not thread-safe: one reader.
/// </summary>
public sealed class ReceiveBuffer(Stream inner, int bufferSize) : Stream
{
    private readonly byte[] _buffer = new byte[bufferSize];
    private int _start;
    private int _end;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken ct = default)
    {
        if (destination.IsEmpty) return ValueTask.FromResult(0);
        if (_end > _start) return ValueTask.FromResult(CopyBuffered(destination.Span));
        if (destination.Length >= _buffer.Length) return inner.ReadAsync(destination, ct);
        return FillThenCopyAsync(destination, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> FillThenCopyAsync(Memory<byte> destination, CancellationToken ct)
    {
        int got = await inner.ReadAsync(_buffer, ct).ConfigureAwait(false);
        if (got == 0) return 0;
        _start = 0;
        _end = got;
        return CopyBuffered(destination.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> destination)
    {
        if (destination.IsEmpty) return 0;
        if (_end > _start) return CopyBuffered(destination);
        if (destination.Length >= _buffer.Length) return inner.Read(destination);
        int got = inner.Read(_buffer);
        if (got == 0) return 0;
        _start = 0;
        _end = got;
        return CopyBuffered(destination);
    }

    private int CopyBuffered(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, _end - _start);
        _buffer.AsSpan(_start, n).CopyTo(destination);
        _start += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
