using System.Text;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Iscsi.Tests.Pdus;

/// <summary>iSCSI text parameters: key=value pairs ended by NUL, order and repeats kept, malformed text refused.</summary>
public sealed class TextKeysTests
{
    private static byte[] Ascii(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public void Encode_writes_key_equals_value_and_a_nul_after_each_pair()
    {
        var keys = new TextKeys { { "HeaderDigest", "CRC32C,None" }, { "MaxBurstLength", "262144" } };
        Assert.Equal(Ascii("HeaderDigest=CRC32C,None\0MaxBurstLength=262144\0"), keys.Encode());
        Assert.Empty(new TextKeys().Encode());
    }

    [Fact]
    public void Parse_keeps_order_and_repeated_keys()
    {
        var keys = TextKeys.Parse(Ascii("TargetName=iqn.a\0TargetAddress=10.0.0.1:3260,1\0TargetName=iqn.b\0TargetAddress=[::1]:3260,2\0"));
        Assert.Equal(["TargetName", "TargetAddress", "TargetName", "TargetAddress"], keys.Select(k => k.Key).ToArray());
        Assert.Equal("iqn.a", keys["TargetName"]);       // the first value
        Assert.Equal("[::1]:3260,2", keys[3].Value);
        Assert.Null(keys["Missing"]);
        Assert.True(keys.Contains("TargetAddress"));
        Assert.False(keys.Contains("Missing"));
    }

    [Fact]
    public void Round_trip_with_empty_values_equals_signs_and_utf8()
    {
        var keys = new TextKeys { { "X-com.example.Empty", "" }, { "CHAP_C", "0b+/A=" }, { "InitiatorAlias", "hôte" } };
        var parsed = TextKeys.Parse(keys.Encode());
        Assert.Equal(keys.ToList(), parsed.ToList());
        Assert.Equal("0b+/A=", parsed["CHAP_C"]); // only the first '=' separates
        Assert.Equal("X-com.example.Empty= CHAP_C=0b+/A= InitiatorAlias=hôte", parsed.ToString());
    }

    [Fact]
    public void Padding_nuls_are_tolerated()
    {
        var keys = TextKeys.Parse(Ascii("A=1\0\0\0B=2\0\0"));
        Assert.Equal(2, keys.Count);
        Assert.Equal("2", keys["B"]);
        Assert.Empty(TextKeys.Parse([]));
    }

    [Theory]
    [InlineData("NoEqualsSign\0", "no key=value")]
    [InlineData("=value\0", "no key=value")]
    [InlineData("A=1\0B=2", "NUL")]
    [InlineData("A=1", "NUL")]
    public void Malformed_text_is_a_protocol_error(string text, string message)
    {
        var error = Assert.Throws<ProtocolException>(() => TextKeys.Parse(Ascii(text)));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Keys_longer_than_63_characters_are_refused()
    {
        string key63 = new('K', 63);
        Assert.Equal("v", TextKeys.Parse(Ascii(key63 + "=v\0"))[key63]);
        Assert.Throws<ProtocolException>(() => TextKeys.Parse(Ascii(new string('K', 64) + "=v\0")));
    }

    [Fact]
    public void Malformed_text_message_hides_control_characters()
    {
        var error = Assert.Throws<ProtocolException>(() => TextKeys.Parse([(byte)'a', 0x01, (byte)'b', 0]));
        Assert.Contains(@"a\x01b", error.Message);
    }
}
