using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace IscsiUp.Io;

/// <summary>
/// The write buffer in front of a connected stream socket. Small writes are copied and wait for
/// <see cref="FlushAsync(CancellationToken)"/>; a write too large to copy leaves at once together with the bytes
/// buffered before it, in one vectored send. A PDU's or an NBD reply's header and its payload then cost one
/// system call, and the peer never wakes up for a lone header (a BufferedStream sends the header by itself
/// first). Not thread-safe: writers take turns (<see cref="CoalescingWriteLock"/>). Does not own the socket.
/// </summary>
public sealed class GatherWriteStream(Socket socket, int bufferSize) : Stream
{
    private readonly byte[] _buffer = new byte[bufferSize];
    private readonly List<ArraySegment<byte>> _vector = [];
    private int _count;
    private long _sendingSince; // Environment.TickCount64 when the send in progress began; 0 when none is

    /// <summary>How long the send in progress has been waiting for the peer to take its bytes (zero when no send
    /// is in progress): a peer that stopped reading shows here.</summary>
    public TimeSpan SendingFor
    {
        get
        {
            long since = Volatile.Read(ref _sendingSince);
            return since == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Environment.TickCount64 - since);
        }
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        if (data.Length <= _buffer.Length - _count)
        {
            data.Span.CopyTo(_buffer.AsSpan(_count));
            _count += data.Length;
            return ValueTask.CompletedTask;
        }
        if (data.Length < _buffer.Length / 2 || !MemoryMarshal.TryGetArray(data, out var payload))
            return FlushThenWriteAsync(data, ct);
        return SendWithBufferedAsync(payload, ct);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async Task FlushAsync(CancellationToken ct)
    {
        if (_count == 0) return;
        int count = _count;
        _count = 0;
        await SendAsync(_buffer.AsMemory(0, count), ct).ConfigureAwait(false);
    }

    private async ValueTask FlushThenWriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        await FlushAsync(ct).ConfigureAwait(false);
        if (data.Length <= _buffer.Length)
        {
            data.Span.CopyTo(_buffer);
            _count = data.Length;
        }
        else
        {
            await SendAsync(data, ct).ConfigureAwait(false);
        }
    }

    private ValueTask SendWithBufferedAsync(ArraySegment<byte> payload, CancellationToken ct)
    {
        if (_count == 0) return SendAsync(payload, ct);
        _vector.Clear();
        _vector.Add(new ArraySegment<byte>(_buffer, 0, _count));
        _vector.Add(payload);
        _count = 0;
        return SendVectorAsync();
    }

    /// <summary>Sends the buffered bytes and then <paramref name="segments"/> in one vectored send, without copying
    /// the segments: the caller keeps them untouched until this completes. For runs of PDUs whose payloads would
    /// otherwise each be copied into the buffer or sent by itself (a Data-Out sequence).</summary>
    public ValueTask SendGatheredAsync(IReadOnlyList<ArraySegment<byte>> segments)
    {
        _vector.Clear();
        if (_count > 0) _vector.Add(new ArraySegment<byte>(_buffer, 0, _count));
        _count = 0;
        for (int i = 0; i < segments.Count; i++) _vector.Add(segments[i]);
        return SendVectorAsync();
    }

    private async ValueTask SendVectorAsync()
    {
        Volatile.Write(ref _sendingSince, Math.Max(1, Environment.TickCount64));
        try
        {
            // A stream socket's send completes only when every byte is out (or fails).
            // No cancellation here (the list API has none): a dead connection is closed, which fails the send.
            await socket.SendAsync(_vector, SocketFlags.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw WriteFailed(e);
        }
        finally
        {
            _vector.Clear();
            Volatile.Write(ref _sendingSince, 0);
        }
    }

    private async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        Volatile.Write(ref _sendingSince, Math.Max(1, Environment.TickCount64));
        try
        {
            await socket.SendAsync(data, SocketFlags.None, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw WriteFailed(e);
        }
        finally
        {
            Volatile.Write(ref _sendingSince, 0);
        }
    }

    // The same wording as NetworkStream's, which callers and logs already know. A socket closed under a send (a
    // session aborted by another thread) is a failed write like any other, not a programming error.
    private static IOException WriteFailed(Exception e) =>
        new($"Unable to write data to the transport connection: {e.Message}.", e);

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
