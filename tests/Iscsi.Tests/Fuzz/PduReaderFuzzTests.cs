using System.Buffers.Binary;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Tests.Fuzz;

namespace IscsiUp.Iscsi.Tests.Fuzz;

/// <summary>
/// Hostile byte streams through <see cref="PduReader"/>: valid PDUs written by <see cref="PduWriter"/> (with and
/// without digests), then corrupted, truncated, given huge lengths, or replaced by noise. The reader may only
/// return PDUs, return false at a clean end, or throw <see cref="ProtocolException"/> /
/// <see cref="EndOfStreamException"/>; it never reads or allocates past what a header may claim.
/// </summary>
public sealed class PduReaderFuzzTests
{
    private const int MaxData = 2048;
    private static readonly Opcode[] Opcodes = Enum.GetValues<Opcode>();
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    private sealed record Written(byte[] Bhs, byte[] Ahs, byte[] Data);

    /// <summary>1-3 random but well-formed PDUs as the writer puts them on the wire.</summary>
    private static byte[] ValidStream(Random r, bool headerDigest, bool dataDigest, List<Written> written, int maxData = MaxData)
    {
        var wire = new MemoryStream();
        var writer = new PduWriter(wire) { HeaderDigest = headerDigest, DataDigest = dataDigest };
        int count = r.Next(1, 4);
        for (int i = 0; i < count; i++)
        {
            using var pdu = new Pdu(Opcodes[r.Next(Opcodes.Length)], immediate: r.Next(2) == 0, final: r.Next(2) == 0);
            pdu.Flags = (byte)r.Next(256);
            pdu.Bhs[2] = (byte)r.Next(256);
            pdu.Bhs[3] = (byte)r.Next(256);
            r.NextBytes(pdu.Bhs.AsSpan(8));
            pdu.Ahs = new byte[r.Next(4) == 0 ? 4 * r.Next(1, 8) : 0];
            r.NextBytes(pdu.Ahs);
            var data = new byte[r.Next(3) == 0 ? 0 : r.Next(1, maxData + 1)];
            r.NextBytes(data);
            pdu.SetData(data);
            writer.WriteAsync(pdu, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            written.Add(new Written(pdu.Bhs.ToArray(), pdu.Ahs.ToArray(), data));
        }
        return wire.ToArray();
    }

    private enum Mutation { None, FlipBytes, Truncate, HugeDataLength, AhsLength, AppendNoise, SpliceNoise, Noise, DigestMismatch }

    private static byte[] Mutate(Random r, byte[] wire, Mutation mutation)
    {
        var bytes = wire.ToList();
        switch (mutation)
        {
            case Mutation.FlipBytes:
                for (int i = r.Next(1, 9); i > 0; i--)
                    bytes[r.Next(bytes.Count)] ^= (byte)r.Next(1, 256);
                break;
            case Mutation.Truncate:
            {
                int keep = r.Next(bytes.Count);
                bytes.RemoveRange(keep, bytes.Count - keep);
                break;
            }
            case Mutation.HugeDataLength:
            {
                // The first header (the only offset known to be a header) claims far more than allowed.
                int length = r.Next(3) switch { 0 => 0xFFFFFF, 1 => MaxData + 1, _ => r.Next(MaxData + 1, 0x1000000) };
                bytes[5] = (byte)(length >> 16);
                bytes[6] = (byte)(length >> 8);
                bytes[7] = (byte)length;
                break;
            }
            case Mutation.AhsLength:
                bytes[4] = r.Next(2) == 0 ? (byte)255 : (byte)r.Next(256);
                break;
            case Mutation.AppendNoise:
                bytes.AddRange(Noise(r, r.Next(1, 200)));
                break;
            case Mutation.SpliceNoise:
                bytes.InsertRange(r.Next(bytes.Count), Noise(r, r.Next(1, 100)));
                break;
            case Mutation.Noise:
                return Noise(r, r.Next(0, 600));
        }
        return [.. bytes];
    }

    private static byte[] Noise(Random r, int length)
    {
        var noise = new byte[length];
        r.NextBytes(noise);
        return noise;
    }

    [Fact]
    public async Task Random_and_mutated_streams_only_yield_pdus_clean_ends_or_protocol_errors()
    {
        var outcomes = new Dictionary<string, int>();
        await FuzzRunner.RunAsync(defaultSeed: 1_000, defaultCases: 4_000, Budget, async (seed, r) =>
        {
            bool headerDigest = r.Next(2) == 0, dataDigest = r.Next(2) == 0;
            var written = new List<Written>();
            byte[] valid = ValidStream(r, headerDigest, dataDigest, written);
            var mutation = (Mutation)r.Next(Enum.GetValues<Mutation>().Length);
            byte[] wire = Mutate(r, valid, mutation);
            bool readerHeaderDigest = headerDigest, readerDataDigest = dataDigest;
            if (mutation == Mutation.DigestMismatch)
            {
                readerHeaderDigest = r.Next(2) == 0;
                readerDataDigest = r.Next(2) == 0;
            }

            string outcome = await ReadAllAsync(r, wire, readerHeaderDigest, readerDataDigest, MaxData, out var read);
            lock (outcomes) outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

            if (mutation == Mutation.None || (mutation == Mutation.DigestMismatch && readerHeaderDigest == headerDigest && readerDataDigest == dataDigest))
            {
                // Untouched streams read back exactly.
                Assert.Equal("end", outcome);
                Assert.Equal(written.Count, read.Count);
                for (int i = 0; i < written.Count; i++)
                {
                    Assert.Equal(written[i].Bhs, read[i].Bhs);
                    Assert.Equal(written[i].Ahs, read[i].Ahs);
                    Assert.Equal(written[i].Data, read[i].Data);
                }
            }
        });
        // Every kind of ending was exercised (a sanity check on the generator, not on the reader).
        Assert.True(outcomes.GetValueOrDefault("end") > 100, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault(nameof(ProtocolException)) > 100, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault(nameof(EndOfStreamException)) > 100, string.Join(", ", outcomes));
    }

    /// <summary>
    /// Reads PDUs until the stream ends or the reader throws; checks the reader's invariants on the way and
    /// returns "end", "ProtocolException" or "EndOfStreamException". Anything else fails.
    /// </summary>
    private static ValueTask<string> ReadAllAsync(Random r, byte[] wire, bool headerDigest, bool dataDigest, int maxData, out List<Written> read)
    {
        var pdus = new List<Written>();
        read = pdus;
        return Core();

        async ValueTask<string> Core()
        {
            var stream = new TrickleStream(wire, r, maxChunk: r.Next(2) == 0 ? int.MaxValue : r.Next(1, 64));
            var reader = new PduReader(stream) { HeaderDigest = headerDigest, DataDigest = dataDigest, MaxDataSegmentLength = maxData };
            using var pdu = new Pdu();
            int headerBytes = Pdu.BhsLength + (headerDigest ? 4 : 0);
            int limit = wire.Length / Pdu.BhsLength + 2;
            try
            {
                for (int iteration = 0; ; iteration++)
                {
                    Assert.True(iteration <= limit, "the reader returned more PDUs than the input can hold");
                    long before = stream.Position;
                    long allocated = GC.GetAllocatedBytesForCurrentThread();
                    var header = reader.ReadHeaderAsync(pdu, CancellationToken.None);
                    Assert.True(header.IsCompleted, "a synchronous stream must give a synchronous header read");
                    bool got;
                    try
                    {
                        got = await header;
                    }
                    catch (ProtocolException e) when (e.Message.Contains("more than the negotiated"))
                    {
                        // Refused on the header alone: nothing of the data segment was read or allocated.
                        int claimed = (wire[before + 5] << 16) | (wire[before + 6] << 8) | wire[before + 7];
                        Assert.True(claimed > maxData, e.Message);
                        Assert.Equal(before + headerBytes + wire[before + 4] * 4, stream.Position);
                        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 64 * 1024, "allocated for a refused data segment");
                        throw;
                    }
                    long headerAllocation = GC.GetAllocatedBytesForCurrentThread() - allocated;
                    if (!got)
                    {
                        Assert.Equal(wire.Length, stream.Position); // a clean end is only at the very end
                        return "end";
                    }
                    Assert.True(pdu.DataSegmentLength <= maxData);
                    Assert.Equal(pdu.TotalAhsLength, pdu.Ahs.Length);
                    Assert.Equal(before + headerBytes + pdu.TotalAhsLength, stream.Position);
                    Assert.True(headerAllocation < 16 * 1024, $"header read allocated {headerAllocation} bytes");

                    int dataLength = pdu.DataSegmentLength;
                    byte[] data;
                    allocated = GC.GetAllocatedBytesForCurrentThread();
                    if (r.Next(2) == 0)
                    {
                        await reader.ReadDataAsync(pdu, CancellationToken.None);
                        data = pdu.Data.ToArray();
                    }
                    else
                    {
                        data = new byte[dataLength]; // the Data-In path: straight into the caller's buffer
                        await reader.ReadDataAsync(pdu, data, CancellationToken.None);
                    }
                    Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 2L * maxData + 16 * 1024, "data read allocated too much");
                    int padded = (dataLength + 3) & ~3;
                    Assert.Equal(before + headerBytes + pdu.TotalAhsLength + (dataLength == 0 ? 0 : padded + (dataDigest ? 4 : 0)), stream.Position);
                    pdus.Add(new Written(pdu.Bhs.ToArray(), pdu.Ahs.ToArray(), data));
                }
            }
            catch (ProtocolException)
            {
                return nameof(ProtocolException);
            }
            catch (EndOfStreamException)
            {
                return nameof(EndOfStreamException);
            }
        }
    }

    [Theory]
    [InlineData(MaxData + 1, false)]
    [InlineData(0xFFFFFF, false)]
    [InlineData(0xFFFFFF, true)]
    [InlineData(0x800000, true)]
    public async Task A_huge_data_segment_length_is_refused_from_the_header_before_any_allocation(int claimed, bool headerDigest)
    {
        var written = new List<Written>();
        byte[] wire = ValidStream(new Random(claimed), headerDigest, false, written);
        var bhs = new byte[Pdu.BhsLength];
        new Random(7).NextBytes(bhs);
        bhs[0] = (byte)Opcode.DataIn;
        bhs[4] = 0;
        bhs[5] = (byte)(claimed >> 16);
        bhs[6] = (byte)(claimed >> 8);
        bhs[7] = (byte)claimed;
        var header = new List<byte>(bhs);
        if (headerDigest)
        {
            var digest = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(digest, Crc32C.Finish(Crc32C.Append(Crc32C.Seed, bhs)));
            header.AddRange(digest);
        }
        byte[] stream = [.. header, .. wire]; // what follows is not the claimed data, and far shorter

        var input = new TrickleStream(stream);
        var reader = new PduReader(input) { HeaderDigest = headerDigest, MaxDataSegmentLength = MaxData };
        using var pdu = new Pdu();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var read = reader.ReadPduAsync(pdu, CancellationToken.None);
        Assert.True(read.IsCompleted);
        var error = await Assert.ThrowsAsync<ProtocolException>(async () => await read);
        long used = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.Contains(claimed.ToString(), error.Message);
        Assert.Contains(MaxData.ToString(), error.Message);
        Assert.Contains("DataIn", error.Message);
        Assert.Equal(header.Count, input.Position); // not one byte of the claimed segment was consumed
        Assert.True(used < 64 * 1024, $"refusing a {claimed}-byte segment allocated {used} bytes");
        Assert.Equal(0, pdu.Data.Length);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Every_truncation_of_valid_pdus_ends_cleanly_or_with_an_error(bool headerDigest, bool dataDigest)
    {
        var written = new List<Written>();
        var r = new Random(headerDigest ? dataDigest ? 11 : 12 : dataDigest ? 13 : 14);
        byte[] wire = [];
        while (written.Count < 2 || written.All(w => w.Ahs.Length == 0) || written.All(w => w.Data.Length % 4 == 0))
        {
            written.Clear();
            wire = ValidStream(r, headerDigest, dataDigest, written, maxData: 64);
        }

        // Where each PDU ends on the wire.
        var boundaries = new List<int> { 0 };
        int at = 0;
        foreach (var w in written)
        {
            at += Pdu.BhsLength + w.Ahs.Length + (headerDigest ? 4 : 0);
            if (w.Data.Length > 0) at += ((w.Data.Length + 3) & ~3) + (dataDigest ? 4 : 0);
            boundaries.Add(at);
        }
        Assert.Equal(wire.Length, at);

        for (int length = 0; length <= wire.Length; length++)
        {
            string outcome = await ReadAllAsync(new Random(length), wire[..length], headerDigest, dataDigest, MaxData, out var read);
            int whole = boundaries.Count(b => b <= length) - 1;
            Assert.True(boundaries.Contains(length) ? outcome == "end" : outcome != "end", $"prefix of {length} bytes: {outcome}");
            Assert.Equal(whole, read.Count);
            if (outcome == nameof(ProtocolException)) Assert.True(length - boundaries[whole] < Pdu.BhsLength, $"prefix of {length} bytes");
        }
    }

    [Fact]
    public async Task With_both_digests_no_single_corrupted_byte_is_accepted()
    {
        var written = new List<Written>();
        var r = new Random(21);
        byte[] wire = [];
        while (written.Count != 1 || written[0].Ahs.Length == 0 || written[0].Data.Length % 4 == 0)
        {
            written.Clear();
            wire = ValidStream(r, true, true, written, maxData: 100);
        }

        for (int position = 0; position < wire.Length; position++)
        {
            foreach (byte flip in new byte[] { 0x01, 0x80, (byte)r.Next(1, 256) })
            {
                byte[] corrupted = wire.ToArray();
                corrupted[position] ^= flip;
                string outcome = await ReadAllAsync(r, corrupted, true, true, MaxData, out var read);
                Assert.True(outcome != "end", $"byte {position} xor 0x{flip:x2} went unnoticed");
                Assert.Empty(read);
            }
        }
    }

    [Fact]
    public async Task Data_into_a_caller_buffer_of_the_wrong_size_is_an_argument_error_not_a_read()
    {
        var written = new List<Written>();
        var r = new Random(31);
        byte[] wire = [];
        while (written.Count == 0 || written[0].Data.Length < 2)
        {
            written.Clear();
            wire = ValidStream(r, false, false, written);
        }
        var input = new TrickleStream(wire);
        var reader = new PduReader(input);
        using var pdu = new Pdu();
        Assert.True(await reader.ReadHeaderAsync(pdu, CancellationToken.None));
        long position = input.Position;
        await Assert.ThrowsAsync<ArgumentException>(async () => await reader.ReadDataAsync(pdu, new byte[pdu.DataSegmentLength - 1], CancellationToken.None));
        Assert.Equal(position, input.Position);
    }
}
