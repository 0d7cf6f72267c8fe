using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Iscsi.Tests.Pdus;

/// <summary>CRC32C against the iSCSI test vectors of RFC 3720 appendix B.4 (also RFC 7143 appendix A.4).</summary>
public sealed class Crc32CTests
{
    private static readonly byte[] Zeroes = new byte[32];
    private static readonly byte[] Ones = Enumerable.Repeat((byte)0xFF, 32).ToArray();
    private static readonly byte[] Incrementing = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] Decrementing = Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray();

    /// <summary>The iSCSI READ command PDU of the RFC vector (48 bytes).</summary>
    private static readonly byte[] ReadCommandPdu = Convert.FromHexString(
        "01C00000000000000000000000000000" +
        "14000000000004000000001400000018" +
        "28000000000000000200000000000000");

    public static TheoryData<string, byte[], uint> Vectors => new()
    {
        { "32 bytes of zeroes", Zeroes, 0x8A9136AA },
        { "32 bytes of 0xFF", Ones, 0x62A8AB43 },
        { "32 incrementing bytes", Incrementing, 0x46DD794E },
        { "32 decrementing bytes", Decrementing, 0x113FDB5C },
        { "iSCSI read command PDU", ReadCommandPdu, 0xD9963A56 },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Known_vectors(string name, byte[] data, uint expected)
    {
        Assert.True(expected == Crc32C.Compute(data), $"{name}: 0x{Crc32C.Compute(data):X8} instead of 0x{expected:X8}");
    }

    [Fact]
    public void Wire_bytes_of_the_zero_vector_are_little_endian_as_the_rfc_lists_them()
    {
        var wire = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(wire, Crc32C.Compute(Zeroes));
        Assert.Equal(new byte[] { 0xAA, 0x36, 0x91, 0x8A }, wire);
    }

    [Fact]
    public void Appending_in_pieces_of_any_size_gives_the_same_crc()
    {
        var data = new byte[1000];
        new Random(3).NextBytes(data);
        uint whole = Crc32C.Compute(data);
        foreach (int split in new[] { 0, 1, 3, 7, 8, 9, 15, 16, 17, 500, 999, 1000 })
        {
            uint crc = Crc32C.Append(Crc32C.Seed, data.AsSpan(0, split));
            crc = Crc32C.Append(crc, data.AsSpan(split));
            Assert.Equal(whole, Crc32C.Finish(crc));
        }
    }

    [Fact]
    public void Tail_bytes_after_whole_words_count()
    {
        // 13 bytes: one 8-byte word and a 5-byte tail; flipping any byte must change the CRC.
        var data = Enumerable.Range(1, 13).Select(i => (byte)i).ToArray();
        uint original = Crc32C.Compute(data);
        for (int i = 0; i < data.Length; i++)
        {
            data[i] ^= 0x01;
            Assert.NotEqual(original, Crc32C.Compute(data));
            data[i] ^= 0x01;
        }
        Assert.Equal(0u, Crc32C.Compute([]));
    }
}
