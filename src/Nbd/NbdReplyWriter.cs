using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using IscsiUp.Io;

namespace IscsiUp.Nbd;

/// <summary>
/// Sends transmission-phase replies of one connection. Replies come from many concurrent request handlers and
/// may go out in any order; a write lock keeps each message contiguous on the wire. Small replies collect in a
/// buffer; a large read reply leaves with the header in front of it in one vectored send.
/// </summary>
internal sealed class NbdReplyWriter
{
    // Replies collect in this buffer; the last writer in a burst pushes them out with one send. A socket gets a
    // GatherWriteStream (header and large payload in one send); other streams (tests) a plain BufferedStream.
    private readonly Stream _output;
    private readonly Stream _socketStream;
    private readonly CoalescingWriteLock _lock;

    private readonly bool _structuredReplies;

    /// <param name="schedule">When the replies leave: held while the session's loops handle input at hand.</param>
    /// <param name="heldFlushFailed">Told when replies held by <paramref name="schedule"/> could not be sent.</param>
    public NbdReplyWriter(Stream socketStream, bool structuredReplies, SendSchedule schedule, Action<Exception> heldFlushFailed)
    {
        _output = socketStream is NetworkStream network
            ? new GatherWriteStream(network.Socket, 128 * 1024)
            : new BufferedStream(socketStream, 128 * 1024);
        _socketStream = socketStream;
        _lock = new CoalescingWriteLock(_output, schedule, heldFlushFailed);
        _structuredReplies = structuredReplies;
    }

    /// <summary>How long the reply being sent has waited for the client to read (zero when none waits).</summary>
    public TimeSpan StalledFor => _output is GatherWriteStream gather ? gather.SendingFor : TimeSpan.Zero;

    /// <summary>Closes the connection under the writers: a send the client never takes fails and frees the lock.</summary>
    public void Abort() => _socketStream.Dispose();

    /// <summary>True when the client negotiated NBD_OPT_STRUCTURED_REPLY.</summary>
    public bool StructuredReplies => _structuredReplies;

    /// <summary>Bytes a read reply needs in front of its data (simple: 16, structured: 20 + 8 offset).</summary>
    public int ReadReplyHeaderLength => _structuredReplies ? NbdConstants.StructuredReplyHeaderLength + 8 : NbdConstants.SimpleReplyHeaderLength;

    /// <summary>Writes one complete message. Any failure leaves the stream unusable: the caller ends the connection.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        await _lock.EnterAsync(ct).ConfigureAwait(false);
        try
        {
            await _output.WriteAsync(message, ct).ConfigureAwait(false);
        }
        finally
        {
            await _lock.ExitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Writes a header and its payload back to back under one lock acquisition (used for large read
    /// replies, where copying the payload behind the header would cost a buffer twice the size).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        await _lock.EnterAsync(ct).ConfigureAwait(false);
        try
        {
            await _output.WriteAsync(header, ct).ConfigureAwait(false);
            await _output.WriteAsync(payload, ct).ConfigureAwait(false);
        }
        finally
        {
            await _lock.ExitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Success reply without payload (simple reply: allowed for every command except a structured READ).</summary>
    public ValueTask SendOkAsync(ulong cookie, CancellationToken ct) => SendSimpleAsync(cookie, 0, ct);

    /// <summary>Error reply for any command: a structured error chunk with a message when negotiated, else a
    /// simple reply carrying only the error number.</summary>
    public async ValueTask SendErrorAsync(ulong cookie, uint error, string? message, CancellationToken ct)
    {
        if (!_structuredReplies)
        {
            await SendSimpleAsync(cookie, error, ct).ConfigureAwait(false);
            return;
        }
        message ??= "";
        if (message.Length > 256)
            message = message[..256];
        int msgLen = Encoding.UTF8.GetByteCount(message);
        int total = NbdConstants.StructuredReplyHeaderLength + 6 + msgLen;
        byte[] buf = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var span = buf.AsSpan();
            WriteStructuredHeader(span, NbdConstants.ReplyFlagDone, NbdConstants.ReplyTypeError, cookie, (uint)(6 + msgLen));
            BinaryPrimitives.WriteUInt32BigEndian(span[20..], error);
            BinaryPrimitives.WriteUInt16BigEndian(span[24..], (ushort)msgLen);
            Encoding.UTF8.GetBytes(message, span.Slice(26, msgLen));
            await WriteAsync(buf.AsMemory(0, total), ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendSimpleAsync(ulong cookie, uint error, CancellationToken ct)
    {
        byte[] buf = ArrayPool<byte>.Shared.Rent(NbdConstants.SimpleReplyHeaderLength);
        try
        {
            WriteSimpleHeader(buf, error, cookie);
            await WriteAsync(buf.AsMemory(0, NbdConstants.SimpleReplyHeaderLength), ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    public static void WriteSimpleHeader(Span<byte> span, uint error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(span, NbdConstants.SimpleReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], error);
        BinaryPrimitives.WriteUInt64BigEndian(span[8..], cookie);
    }

    public static void WriteStructuredHeader(Span<byte> span, ushort flags, ushort type, ulong cookie, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(span, NbdConstants.StructuredReplyMagic);
        BinaryPrimitives.WriteUInt16BigEndian(span[4..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(span[6..], type);
        BinaryPrimitives.WriteUInt64BigEndian(span[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(span[16..], length);
    }
}
