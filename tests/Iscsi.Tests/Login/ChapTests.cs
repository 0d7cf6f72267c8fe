using System.Security.Cryptography;
using System.Text;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Iscsi.Tests.Login;

/// <summary>CHAP responses (RFC 1994: H(identifier || secret || challenge)) and iSCSI's binary value encodings.</summary>
public sealed class ChapTests
{
    private static readonly byte[] Secret = Encoding.ASCII.GetBytes("secret-12345");
    private static readonly byte[] Challenge = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();

    [Theory]
    // Expected values computed outside .NET (Python hashlib) over 0x2A || "secret-12345" || 00 01 .. 0F.
    [InlineData(Chap.Md5, "cee3549fe9c5b090e90a26d6371af70a")]
    [InlineData(Chap.Sha1, "9814bac354134b10155d22db38275edf58d51edb")]
    [InlineData(Chap.Sha256, "1647414c3cfa1b283568d354879bb761edc5019c96648e7dd51fe36ff82a9c57")]
    public void Response_matches_known_vectors(int algorithm, string expectedHex)
    {
        if (!Chap.IsSupported(algorithm)) Assert.Fail($"{Chap.Name(algorithm)} is not available on this machine");
        byte[] response = Chap.Response(algorithm, 0x2A, Secret, Challenge);
        Assert.Equal(expectedHex, Convert.ToHexStringLower(response));
        Assert.Equal(Chap.DigestLength(algorithm), response.Length);
    }

    [Fact]
    public void Sha3_response_matches_its_known_vector_where_the_platform_has_sha3()
    {
        if (!SHA3_256.IsSupported)
        {
            Assert.DoesNotContain(Chap.Sha3_256, Chap.Preferred);
            return;
        }
        Assert.Equal("3f2d0ea19314a33729b14c86b5ea08ac82be456065e05f3f2c69def11e772a64",
            Convert.ToHexStringLower(Chap.Response(Chap.Sha3_256, 0x2A, Secret, Challenge)));
    }

    [Fact]
    public void Md5_response_is_the_hash_of_identifier_secret_and_challenge()
    {
        var rng = new Random(5);
        for (int round = 0; round < 20; round++)
        {
            byte id = (byte)rng.Next(256);
            var secret = new byte[rng.Next(1, 40)];
            var challenge = new byte[rng.Next(1, 64)];
            rng.NextBytes(secret);
            rng.NextBytes(challenge);

            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            md5.AppendData([id]);
            md5.AppendData(secret);
            md5.AppendData(challenge);
            Assert.Equal(md5.GetHashAndReset(), Chap.Response(Chap.Md5, id, secret, challenge));
        }
    }

    [Fact]
    public void Every_input_changes_the_response()
    {
        byte[] baseline = Chap.Response(Chap.Md5, 1, Secret, Challenge);
        Assert.NotEqual(baseline, Chap.Response(Chap.Md5, 2, Secret, Challenge));
        Assert.NotEqual(baseline, Chap.Response(Chap.Md5, 1, Encoding.ASCII.GetBytes("secret-12346"), Challenge));
        Assert.NotEqual(baseline, Chap.Response(Chap.Md5, 1, Secret, Challenge.Reverse().ToArray()));
        Assert.NotEqual(baseline, Chap.Response(Chap.Sha256, 1, Secret, Challenge)[..16]);
    }

    [Fact]
    public void Unknown_algorithm_is_a_login_error()
    {
        Assert.Throws<LoginException>(() => Chap.Response(99, 0, Secret, Challenge));
        Assert.False(Chap.IsSupported(99));
        Assert.Equal("#99", Chap.Name(99));
    }

    [Fact]
    public void Offer_is_strongest_first_with_md5_last()
    {
        var offer = Chap.Preferred;
        Assert.Equal(Chap.Md5, offer[^1]);
        Assert.Equal(offer.OrderByDescending(a => a).ToArray(), offer.ToArray());
        Assert.Contains(Chap.Sha256, offer);
        Assert.Contains(Chap.Sha1, offer);
    }

    [Fact]
    public void Encode_is_lowercase_hex_with_0x()
    {
        Assert.Equal("0xdeadbeef01", Chap.Encode(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF, 0x01 }));
        Assert.Equal("0x", Chap.Encode([]));
    }

    [Theory]
    [InlineData("0xdeadbeef01")]
    [InlineData("0XDEADBEEF01")]
    [InlineData("0xDeAdBeEf01")]
    [InlineData("0b3q2+7wE=")]
    [InlineData("0B3q2+7wE=")]
    public void Decode_reads_hex_and_base64(string text) =>
        Assert.Equal(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF, 0x01 }, Chap.Decode(text));

    [Fact]
    public void Decode_pads_odd_hex_with_a_leading_zero()
    {
        Assert.Equal(new byte[] { 0x0A, 0xBC }, Chap.Decode("0xabc"));
    }

    [Fact]
    public void Encode_and_decode_round_trip()
    {
        var rng = new Random(9);
        for (int length = 1; length < 70; length += 7)
        {
            var value = new byte[length];
            rng.NextBytes(value);
            Assert.Equal(value, Chap.Decode(Chap.Encode(value)));
            Assert.Equal(value, Chap.Decode("0b" + Convert.ToBase64String(value)));
        }
    }

    [Theory]
    [InlineData("deadbeef")]       // no prefix
    [InlineData("0xdeadbeeg")]     // not hex
    [InlineData("0b!!notbase64")]
    [InlineData("0b3q2+7wE")]      // base64 without padding
    [InlineData("")]
    public void Decode_refuses_malformed_values(string text)
    {
        var error = Assert.Throws<LoginException>(() => Chap.Decode(text));
        Assert.Contains("malformed CHAP value", error.Message);
    }

    [Fact]
    public void Decode_error_does_not_echo_a_long_value()
    {
        var error = Assert.Throws<LoginException>(() => Chap.Decode("0x" + new string('z', 200)));
        Assert.True(error.Message.Length < 80, error.Message);
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("255", 255)]
    [InlineData("0x10", 16)]
    public void Identifier_parses_within_a_byte(string text, int expected)
    {
        Assert.True(Chap.TryParseIdentifier(text, out byte id));
        Assert.Equal(expected, id);
        Assert.Equal(((byte)expected).ToString(System.Globalization.CultureInfo.InvariantCulture), Chap.FormatIdentifier(id));
    }

    [Theory]
    [InlineData("256")]
    [InlineData("-1")]
    [InlineData("x")]
    [InlineData("")]
    public void Identifier_out_of_range_does_not_parse(string text) => Assert.False(Chap.TryParseIdentifier(text, out _));

    [Fact]
    public void New_challenge_is_random_and_at_least_16_bytes()
    {
        var a = Chap.NewChallenge(Chap.Md5);
        var b = Chap.NewChallenge(Chap.Md5);
        Assert.Equal(16, a.Length);
        Assert.NotEqual(a, b);
        Assert.Equal(32, Chap.NewChallenge(Chap.Sha256).Length);
    }
}
