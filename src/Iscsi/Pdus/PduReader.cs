using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// Reads PDUs from a byte stream in two steps, so the data segment can land directly in its final buffer
/// (for Data-In, the caller's read buffer): <see cref="ReadHeaderAsync"/> then <see cref="ReadDataAsync"/>.
/// Not thread-safe: one reader loop per connection.
/// </summary>
public sealed class PduReader(Stream stream)
{
    private readonly byte[] _scratch = new byte[8];

    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }

    /// <summary>
    /// Largest data segment accepted; a larger one is a protocol error (bounds memory use). Starts at 8192,
    /// the limit in force during login (RFC 7143 section 13.12); a session raises it to what it declared.
    /// </summary>
    public int MaxDataSegmentLength { get; set; } = 8192;

    /// <summary>Reads BHS, AHS and header digest into <paramref name="pdu"/>. Returns false on a clean end of stream before a header.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> ReadHeaderAsync(Pdu pdu, CancellationToken ct)
    {
        pdu.Reset();
        int first = await stream.ReadAtLeastAsync(pdu.Bhs, Pdu.BhsLength, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        if (first == 0) return false;
        if (first < Pdu.BhsLength) throw new ProtocolException($"connection closed in the middle of a PDU header ({first} of 48 bytes)");
        uint crc = HeaderDigest ? Crc32C.Append(Crc32C.Seed, pdu.Bhs) : 0;
        if (pdu.TotalAhsLength > 0)
        {
            pdu.Ahs = new byte[pdu.TotalAhsLength];
            await stream.ReadExactlyAsync(pdu.Ahs, ct).ConfigureAwait(false);
            if (HeaderDigest) crc = Crc32C.Append(crc, pdu.Ahs);
        }
        if (HeaderDigest)
        {
            await stream.ReadExactlyAsync(_scratch.AsMemory(0, 4), ct).ConfigureAwait(false);
            uint received = BinaryPrimitives.ReadUInt32LittleEndian(_scratch);
            if (received != Crc32C.Finish(crc))
                throw new ProtocolException($"header digest mismatch on {pdu.Opcode} PDU (received 0x{received:x8}, computed 0x{Crc32C.Finish(crc):x8})");
        }
        if (pdu.DataSegmentLength > MaxDataSegmentLength)
            throw new ProtocolException($"{pdu.Opcode} PDU carries {pdu.DataSegmentLength} bytes of data, more than the negotiated {MaxDataSegmentLength}");
        return true;
    }

    /// <summary>Reads the data segment (plus padding and data digest) of the PDU whose header was just read into <paramref name="destination"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadDataAsync(Pdu pdu, Memory<byte> destination, CancellationToken ct)
    {
        int length = pdu.DataSegmentLength;
        if (destination.Length != length) throw new ArgumentException("destination must be exactly the data segment length", nameof(destination));
        if (length == 0) return;
        await stream.ReadExactlyAsync(destination, ct).ConfigureAwait(false);
        int pad = (4 - (length & 3)) & 3;
        if (pad > 0) await stream.ReadExactlyAsync(_scratch.AsMemory(0, pad), ct).ConfigureAwait(false);
        if (DataDigest)
        {
            uint crc = Crc32C.Append(Crc32C.Seed, destination.Span);
            if (pad > 0) crc = Crc32C.Append(crc, _scratch.AsSpan(0, pad));
            await stream.ReadExactlyAsync(_scratch.AsMemory(4, 4), ct).ConfigureAwait(false);
            uint received = BinaryPrimitives.ReadUInt32LittleEndian(_scratch.AsSpan(4));
            if (received != Crc32C.Finish(crc))
                throw new ProtocolException($"data digest mismatch on {pdu.Opcode} PDU (itt 0x{pdu.InitiatorTaskTag:x8})");
        }
    }

    /// <summary>Reads the data segment into a pooled buffer owned by the PDU.</summary>
    public ValueTask ReadDataAsync(Pdu pdu, CancellationToken ct)
    {
        int length = pdu.DataSegmentLength;
        if (length == 0) { pdu.SetData(default); return ValueTask.CompletedTask; }
        return ReadDataAsync(pdu, pdu.RentData(length), ct);
    }

    /// <summary>Reads and throws away the data segment of the current PDU.</summary>
    public async ValueTask SkipDataAsync(Pdu pdu, CancellationToken ct)
    {
        await ReadDataAsync(pdu, ct).ConfigureAwait(false);
        pdu.SetData(default);
    }

    /// <summary>Reads a whole PDU with its data in a pooled buffer. Returns false on a clean end of stream.</summary>
    public async ValueTask<bool> ReadPduAsync(Pdu pdu, CancellationToken ct)
    {
        if (!await ReadHeaderAsync(pdu, ct).ConfigureAwait(false)) return false;
        await ReadDataAsync(pdu, ct).ConfigureAwait(false);
        return true;
    }
}
