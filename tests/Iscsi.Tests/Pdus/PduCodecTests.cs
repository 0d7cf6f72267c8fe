using System.Buffers.Binary;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Iscsi.Tests.Pdus;

/// <summary>PduWriter and PduReader together: framing, padding, AHS, digests, and the errors a broken peer causes.</summary>
public sealed class PduCodecTests
{
    private static Pdu Sample(int dataLength, int ahsLength = 0)
    {
        var pdu = new Pdu(Opcode.ScsiCommand);
        pdu.Flags |= 0x20;
        pdu.Lun = 0x0001_0000_0000_0000;
        pdu.InitiatorTaskTag = 0x1234_5678;
        pdu.ExpectedDataTransferLength = (uint)dataLength;
        pdu.CmdSN = 0xFFFF_FFFE;
        pdu.ExpStatSN = 42;
        pdu.Cdb[0] = 0x8A;
        pdu.Ahs = Enumerable.Range(1, ahsLength).Select(i => (byte)i).ToArray();
        var data = new byte[dataLength];
        new Random(dataLength).NextBytes(data);
        pdu.SetData(data);
        return pdu;
    }

    private static async Task<byte[]> EncodeAsync(Pdu pdu, bool headerDigest, bool dataDigest)
    {
        var stream = new MemoryStream();
        var writer = new PduWriter(stream) { HeaderDigest = headerDigest, DataDigest = dataDigest };
        await writer.WriteAsync(pdu, CancellationToken.None);
        await writer.FlushAsync(CancellationToken.None);
        return stream.ToArray();
    }

    // A full-feature limit: the 8192-byte login default is covered in Reader_starts_with_the_login_phase_limit.
    private static PduReader Reader(byte[] wire, bool headerDigest, bool dataDigest) =>
        new(new MemoryStream(wire)) { HeaderDigest = headerDigest, DataDigest = dataDigest, MaxDataSegmentLength = 262144 };

    [Fact]
    public async Task Reader_starts_with_the_login_phase_limit()
    {
        using var sent = Sample(8193);
        byte[] wire = await EncodeAsync(sent, false, false);
        var reader = new PduReader(new MemoryStream(wire));
        using var received = new Pdu();

        var error = await Assert.ThrowsAsync<ProtocolException>(async () => await reader.ReadHeaderAsync(received, CancellationToken.None));

        Assert.Equal(8192, reader.MaxDataSegmentLength);
        Assert.Contains("8192", error.Message);
    }

    [Theory]
    [InlineData(0, 0, false, false)]
    [InlineData(5, 0, false, false)]
    [InlineData(5, 0, true, true)]
    [InlineData(6, 4, true, false)]
    [InlineData(7, 8, false, true)]
    [InlineData(8, 0, true, true)]
    [InlineData(8193, 0, true, true)]
    public async Task Round_trip_keeps_header_ahs_and_data(int dataLength, int ahsLength, bool headerDigest, bool dataDigest)
    {
        using var sent = Sample(dataLength, ahsLength);
        byte[] wire = await EncodeAsync(sent, headerDigest, dataDigest);

        int pad = (4 - dataLength % 4) % 4;
        int expectedLength = 48 + ahsLength + (headerDigest ? 4 : 0) + dataLength + (dataLength > 0 ? pad + (dataDigest ? 4 : 0) : 0);
        Assert.Equal(expectedLength, wire.Length);
        Assert.Equal(ahsLength / 4, wire[4]);
        Assert.Equal(dataLength, (wire[5] << 16) | (wire[6] << 8) | wire[7]);
        if (dataLength > 0)
        {
            int padStart = 48 + ahsLength + (headerDigest ? 4 : 0) + dataLength;
            Assert.All(wire[padStart..(padStart + pad)], b => Assert.Equal(0, b));
        }

        using var received = new Pdu();
        var reader = Reader(wire, headerDigest, dataDigest);
        Assert.True(await reader.ReadPduAsync(received, CancellationToken.None));
        Assert.Equal(sent.Bhs, received.Bhs);
        Assert.Equal(sent.Ahs, received.Ahs);
        Assert.Equal(sent.Data.ToArray(), received.Data.ToArray());
        Assert.Equal(Opcode.ScsiCommand, received.Opcode);
        Assert.Equal(0x1234_5678u, received.InitiatorTaskTag);
        Assert.Equal(0xFFFF_FFFEu, received.CmdSN);
        Assert.False(await reader.ReadPduAsync(received, CancellationToken.None), "clean end of stream after the PDU");
    }

    [Fact]
    public async Task Digests_are_crc32c_little_endian_over_header_and_padded_data()
    {
        using var pdu = Sample(5);
        byte[] wire = await EncodeAsync(pdu, headerDigest: true, dataDigest: true);

        Assert.Equal(Crc32C.Compute(wire.AsSpan(0, 48)), BinaryPrimitives.ReadUInt32LittleEndian(wire.AsSpan(48)));
        Assert.Equal(Crc32C.Compute(wire.AsSpan(52, 8)), BinaryPrimitives.ReadUInt32LittleEndian(wire.AsSpan(60)));
    }

    [Fact]
    public async Task Several_pdus_in_one_stream_are_read_in_order()
    {
        var stream = new MemoryStream();
        var writer = new PduWriter(stream) { HeaderDigest = true, DataDigest = true };
        for (int i = 0; i < 5; i++)
        {
            using var pdu = Sample(i * 3);
            pdu.InitiatorTaskTag = (uint)i;
            await writer.WriteAsync(pdu, CancellationToken.None);
        }
        var reader = Reader(stream.ToArray(), true, true);
        using var received = new Pdu();
        for (int i = 0; i < 5; i++)
        {
            Assert.True(await reader.ReadPduAsync(received, CancellationToken.None));
            Assert.Equal((uint)i, received.InitiatorTaskTag);
            Assert.Equal(i * 3, received.Data.Length);
        }
        Assert.False(await reader.ReadPduAsync(received, CancellationToken.None));
    }

    [Fact]
    public async Task Data_lands_directly_in_the_callers_buffer()
    {
        using var sent = Sample(10);
        byte[] wire = await EncodeAsync(sent, false, true);
        var reader = Reader(wire, false, true);
        using var received = new Pdu();
        Assert.True(await reader.ReadHeaderAsync(received, CancellationToken.None));
        var destination = new byte[20];
        await reader.ReadDataAsync(received, destination.AsMemory(5, 10), CancellationToken.None);
        Assert.Equal(sent.Data.ToArray(), destination[5..15]);
        await Assert.ThrowsAsync<ArgumentException>(async () => await reader.ReadDataAsync(received, new byte[9], CancellationToken.None));
    }

    [Theory]
    [InlineData(10, "header digest mismatch")]   // a BHS byte
    [InlineData(49, "header digest mismatch")]   // the header digest itself
    [InlineData(53, "data digest mismatch")]     // a data byte
    [InlineData(58, "data digest mismatch")]     // a padding byte
    [InlineData(61, "data digest mismatch")]     // the data digest itself
    public async Task A_corrupted_byte_is_a_digest_mismatch(int offset, string message)
    {
        using var pdu = Sample(6); // 48 BHS + 4 HD + 6 data + 2 pad + 4 DD = 64 bytes
        byte[] wire = await EncodeAsync(pdu, true, true);
        Assert.Equal(64, wire.Length);
        wire[offset] ^= 0x10;

        using var received = new Pdu();
        var error = await Assert.ThrowsAsync<ProtocolException>(async () => await Reader(wire, true, true).ReadPduAsync(received, CancellationToken.None));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public async Task Corruption_goes_unnoticed_without_digests_but_not_with_them()
    {
        using var pdu = Sample(6);
        byte[] plain = await EncodeAsync(pdu, false, false);
        plain[50] ^= 0xFF;
        using var received = new Pdu();
        Assert.True(await Reader(plain, false, false).ReadPduAsync(received, CancellationToken.None));
        Assert.NotEqual(pdu.Data.ToArray(), received.Data.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(20)]
    [InlineData(47)]
    public async Task Truncated_header_is_a_protocol_error(int length)
    {
        using var pdu = Sample(4);
        byte[] wire = await EncodeAsync(pdu, false, false);
        using var received = new Pdu();
        var error = await Assert.ThrowsAsync<ProtocolException>(async () =>
            await Reader(wire[..length], false, false).ReadHeaderAsync(received, CancellationToken.None));
        Assert.Contains($"{length} of 48", error.Message);
    }

    [Fact]
    public async Task Truncated_data_segment_fails()
    {
        using var pdu = Sample(100);
        byte[] wire = await EncodeAsync(pdu, false, false);
        using var received = new Pdu();
        await Assert.ThrowsAnyAsync<IOException>(async () => await Reader(wire[..120], false, false).ReadPduAsync(received, CancellationToken.None));
    }

    [Fact]
    public async Task Data_segment_longer_than_negotiated_is_refused_before_reading_it()
    {
        using var pdu = Sample(2048);
        byte[] wire = await EncodeAsync(pdu, false, false);
        var reader = Reader(wire, false, false);
        reader.MaxDataSegmentLength = 1024;
        using var received = new Pdu();

        var error = await Assert.ThrowsAsync<ProtocolException>(async () => await reader.ReadHeaderAsync(received, CancellationToken.None));
        Assert.Contains("2048", error.Message);
        Assert.Contains("1024", error.Message);

        var exact = Reader(wire, false, false);
        exact.MaxDataSegmentLength = 2048;
        Assert.True(await exact.ReadPduAsync(received, CancellationToken.None));
    }

    [Fact]
    public async Task Writer_refuses_inconsistent_pdus()
    {
        using var pdu = Sample(4);
        pdu.Ahs = new byte[3];
        await Assert.ThrowsAsync<ArgumentException>(() => EncodeAsync(pdu, false, false));
        pdu.Ahs = [];
        pdu.DataSegmentLength = 8; // header says 8, data is 4
        await Assert.ThrowsAsync<InvalidOperationException>(() => EncodeAsync(pdu, false, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => pdu.DataSegmentLength = 0x1000000);
    }

    [Fact]
    public void Header_fields_are_big_endian_at_their_rfc_offsets()
    {
        using var pdu = new Pdu(Opcode.LoginRequest, immediate: true, final: true);
        pdu.InitiatorTaskTag = 0x01020304;
        pdu.DataSegmentLength = 0x0A0B0C;
        pdu.Lun = 0x1122334455667788;
        Assert.Equal(0x43, pdu.Bhs[0]);
        Assert.Equal(0x80, pdu.Bhs[1]);
        Assert.Equal(new byte[] { 0x0A, 0x0B, 0x0C }, pdu.Bhs[5..8]);
        Assert.Equal(new byte[] { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 }, pdu.Bhs[8..16]);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, pdu.Bhs[16..20]);
        pdu.Immediate = false;
        Assert.Equal(Opcode.LoginRequest, pdu.Opcode);
        Assert.Equal(0x03, pdu.Bhs[0]);
    }
}
