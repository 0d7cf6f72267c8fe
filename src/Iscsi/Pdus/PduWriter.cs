using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IscsiUp.Io;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// Writes PDUs to a byte stream with padding and optional CRC32C digests. Callers serialise access
/// (one PDU at a time); <see cref="FlushAsync"/> pushes buffered bytes to the socket. A run of PDUs with large
/// payloads can instead be queued (<see cref="QueueAsync"/>) and sent in one vectored send
/// (<see cref="SendQueuedAsync"/>) that does not copy the payloads.
/// </summary>
public sealed class PduWriter(Stream stream)
{
    private static readonly byte[] Zeros = new byte[4];
    private readonly byte[] _digest = new byte[4];

    // Queued PDUs: their headers, pads and digests copied into _framing, their payloads referenced. sendmsg takes
    // at most 1024 pieces (IOV_MAX); a queue this long is sent before it grows further.
    private const int MaxQueuedSegments = 512;
    private readonly List<ArraySegment<byte>> _queued = [];
    private byte[] _framing = new byte[4096];
    private int _framingUsed;

    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(Pdu pdu, CancellationToken ct)
    {
        ReadOnlyMemory<byte> data = Checked(pdu);
        await stream.WriteAsync(pdu.Bhs, ct).ConfigureAwait(false);
        if (pdu.Ahs.Length > 0) await stream.WriteAsync(pdu.Ahs, ct).ConfigureAwait(false);
        if (HeaderDigest)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_digest, HeaderCrc(pdu));
            await stream.WriteAsync(_digest, ct).ConfigureAwait(false);
        }
        if (data.Length == 0) return;
        await stream.WriteAsync(data, ct).ConfigureAwait(false);
        int pad = PadOf(data.Length);
        if (pad > 0) await stream.WriteAsync(Zeros.AsMemory(0, pad), ct).ConfigureAwait(false);
        if (DataDigest)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_digest, DataCrc(data.Span, pad));
            await stream.WriteAsync(_digest, ct).ConfigureAwait(false);
        }
    }

    public Task FlushAsync(CancellationToken ct) => stream.FlushAsync(ct);

    /// <summary>Adds a PDU to the queue that <see cref="SendQueuedAsync"/> sends: its header is copied, its payload
    /// is not, so the caller leaves the payload untouched until that send completes. The PDU object itself may be
    /// reused at once.</summary>
    public ValueTask QueueAsync(Pdu pdu, CancellationToken ct)
    {
        ReadOnlyMemory<byte> data = Checked(pdu);
        var header = Framing(pdu.Bhs.Length + pdu.Ahs.Length + (HeaderDigest ? 4 : 0));
        pdu.Bhs.CopyTo(header);
        pdu.Ahs.CopyTo(header[pdu.Bhs.Length..]);
        if (HeaderDigest)
            BinaryPrimitives.WriteUInt32LittleEndian(header[^4..], HeaderCrc(pdu));
        if (data.Length > 0)
        {
            // Payloads are pooled or caller arrays; anything else (never in practice) is copied into an array of its own.
            _queued.Add(MemoryMarshal.TryGetArray(data, out var payload) ? payload : new ArraySegment<byte>(data.ToArray()));
            int pad = PadOf(data.Length);
            var trailer = Framing(pad + (DataDigest ? 4 : 0));
            trailer[..pad].Clear();
            if (DataDigest)
                BinaryPrimitives.WriteUInt32LittleEndian(trailer[pad..], DataCrc(data.Span, pad));
        }
        return _queued.Count >= MaxQueuedSegments ? SendQueuedAsync(ct) : ValueTask.CompletedTask;
    }

    /// <summary>Sends the queued PDUs, after any bytes the stream holds, in one vectored send when the stream is a
    /// <see cref="GatherWriteStream"/> (else piece by piece through the stream).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendQueuedAsync(CancellationToken ct)
    {
        try
        {
            if (_queued.Count == 0) return;
            if (stream is GatherWriteStream gather)
            {
                await gather.SendGatheredAsync(_queued).ConfigureAwait(false);
                return;
            }
            foreach (var piece in _queued) await stream.WriteAsync(piece, ct).ConfigureAwait(false);
        }
        finally
        {
            DiscardQueued();
        }
    }

    /// <summary>Forgets the queued PDUs without sending them (their sequence failed).</summary>
    public void DiscardQueued()
    {
        _queued.Clear();
        _framingUsed = 0;
    }

    /// <summary>The PDU's payload, after checking the lengths its header will declare and setting TotalAHSLength.</summary>
    private static ReadOnlyMemory<byte> Checked(Pdu pdu)
    {
        if (pdu.Ahs.Length % 4 != 0) throw new ArgumentException("AHS length must be a multiple of 4");
        ReadOnlyMemory<byte> data = pdu.Data;
        if (data.Length != pdu.DataSegmentLength) throw new InvalidOperationException("DataSegmentLength does not match the data");
        pdu.Bhs[4] = (byte)(pdu.Ahs.Length / 4);
        return data;
    }

    /// <summary>Zero bytes after a payload, up to the next multiple of 4.</summary>
    private static int PadOf(int length) => (4 - (length & 3)) & 3;

    private static uint HeaderCrc(Pdu pdu) => Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, pdu.Bhs), pdu.Ahs));

    /// <summary>The data digest covers the payload and its pad.</summary>
    private static uint DataCrc(ReadOnlySpan<byte> data, int pad) =>
        Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, data), Zeros.AsSpan(0, pad)));

    /// <summary>The next <paramref name="length"/> bytes of framing, appended to the queue; contiguous framing (one
    /// PDU's pad and digest, the next one's header) stays one piece.</summary>
    private Span<byte> Framing(int length)
    {
        if (length == 0) return [];
        if (_framingUsed + length > _framing.Length)
        {
            // Queued pieces keep the old array alive; the new one is reused once the queue is sent.
            _framing = new byte[Math.Max(_framing.Length * 2, length)];
            _framingUsed = 0;
        }
        int start = _framingUsed;
        _framingUsed += length;
        if (_queued.Count > 0 && _queued[^1] is { } last && last.Array == _framing && last.Offset + last.Count == start)
            _queued[^1] = new ArraySegment<byte>(_framing, last.Offset, last.Count + length);
        else
            _queued.Add(new ArraySegment<byte>(_framing, start, length));
        return _framing.AsSpan(start, length);
    }
}
