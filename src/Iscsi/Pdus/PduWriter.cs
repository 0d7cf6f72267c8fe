using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// Writes PDUs to a byte stream with padding and optional CRC32C digests. Callers serialise access
/// (one PDU at a time); <see cref="FlushAsync"/> pushes buffered bytes to the socket.
/// </summary>
public sealed class PduWriter(Stream stream)
{
    private static readonly byte[] Zeros = new byte[4];
    private readonly byte[] _digest = new byte[4];

    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(Pdu pdu, CancellationToken ct)
    {
        if (pdu.Ahs.Length % 4 != 0) throw new ArgumentException("AHS length must be a multiple of 4");
        pdu.Bhs[4] = (byte)(pdu.Ahs.Length / 4);
        await stream.WriteAsync(pdu.Bhs, ct).ConfigureAwait(false);
        if (pdu.Ahs.Length > 0) await stream.WriteAsync(pdu.Ahs, ct).ConfigureAwait(false);
        if (HeaderDigest)
        {
            uint crc = Crc32C.Append(Crc32C.Seed, pdu.Bhs);
            crc = Crc32C.Append(crc, pdu.Ahs);
            BinaryPrimitives.WriteUInt32LittleEndian(_digest, Crc32C.Finish(crc));
            await stream.WriteAsync(_digest, ct).ConfigureAwait(false);
        }
        ReadOnlyMemory<byte> data = pdu.Data;
        if (data.Length != pdu.DataSegmentLength) throw new InvalidOperationException("DataSegmentLength does not match the data");
        if (data.Length == 0) return;
        await stream.WriteAsync(data, ct).ConfigureAwait(false);
        int pad = (4 - (data.Length & 3)) & 3;
        if (pad > 0) await stream.WriteAsync(Zeros.AsMemory(0, pad), ct).ConfigureAwait(false);
        if (DataDigest)
        {
            uint crc = Crc32C.Append(Crc32C.Seed, data.Span);
            crc = Crc32C.Append(crc, Zeros.AsSpan(0, pad));
            BinaryPrimitives.WriteUInt32LittleEndian(_digest, Crc32C.Finish(crc));
            await stream.WriteAsync(_digest, ct).ConfigureAwait(false);
        }
    }

    public Task FlushAsync(CancellationToken ct) => stream.FlushAsync(ct);
}
