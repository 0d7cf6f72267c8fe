using IscsiUp.Iscsi.Login;

namespace IscsiUp.Iscsi.Tests.Login;

/// <summary>RFC 7143 section 6.2 negotiation for every kind of key, from both the responder's and the originator's side.</summary>
public sealed class NegotiationTests
{
    private static KeyDefinition Key(string name) => LoginKeys.Find(name) ?? throw new InvalidOperationException($"unknown key {name}");

    [Theory]
    [InlineData("ImmediateData", "Yes", "Yes", "Yes")]
    [InlineData("ImmediateData", "Yes", "No", "No")]
    [InlineData("ImmediateData", "No", "Yes", "No")]
    [InlineData("InitialR2T", "No", "No", "No")]
    [InlineData("InitialR2T", "No", "Yes", "Yes")]
    [InlineData("InitialR2T", "Yes", "No", "Yes")]
    [InlineData("ImmediateData", "yes", "Yes", "Reject")]   // values are case-sensitive
    [InlineData("InitialR2T", "Maybe", "No", "Reject")]
    public void Answer_booleans(string name, string offered, string local, string expected) =>
        Assert.Equal(expected, Negotiation.Answer(Key(name), offered, local));

    [Theory]
    [InlineData("MaxBurstLength", "262144", "65536", "65536")]       // min
    [InlineData("MaxBurstLength", "4096", "65536", "4096")]
    [InlineData("MaxBurstLength", "0x40000", "65536", "65536")]      // hex offer
    [InlineData("MaxBurstLength", "0X1000", "65536", "4096")]
    [InlineData("FirstBurstLength", "0x10000", "0x40000", "65536")]  // hex on both sides, decimal answer
    [InlineData("DefaultTime2Wait", "2", "5", "5")]                  // max
    [InlineData("DefaultTime2Wait", "10", "5", "10")]
    [InlineData("ErrorRecoveryLevel", "2", "0", "0")]
    [InlineData("MaxBurstLength", "100", "65536", "Reject")]        // below 512
    [InlineData("MaxBurstLength", "16777216", "65536", "Reject")]   // above 2^24-1
    [InlineData("ErrorRecoveryLevel", "3", "0", "Reject")]
    [InlineData("DefaultTime2Wait", "3601", "2", "Reject")]
    [InlineData("MaxBurstLength", "-1", "65536", "Reject")]
    [InlineData("MaxBurstLength", "1e5", "65536", "Reject")]
    [InlineData("MaxBurstLength", "0x", "65536", "Reject")]
    [InlineData("MaxBurstLength", "", "65536", "Reject")]
    public void Answer_numbers(string name, string offered, string local, string expected) =>
        Assert.Equal(expected, Negotiation.Answer(Key(name), offered, local));

    [Theory]
    [InlineData("CRC32C,None", "None", "None")]
    [InlineData("CRC32C,None", "None,CRC32C", "CRC32C")]   // the offerer's order wins
    [InlineData("None,CRC32C", "CRC32C,None", "None")]
    [InlineData("CRC32C", "None", "Reject")]
    [InlineData("CRC32C", "CRC32C", "CRC32C")]
    public void Answer_lists_picks_the_first_offered_value_we_support(string offered, string local, string expected) =>
        Assert.Equal(expected, Negotiation.Answer(Key("HeaderDigest"), offered, local));

    [Fact]
    public void Answer_refuses_declarative_keys()
    {
        Assert.Throws<InvalidOperationException>(() => Negotiation.Answer(Key("MaxRecvDataSegmentLength"), "8192", "8192"));
        Assert.Throws<InvalidOperationException>(() => Negotiation.Answer(Key("TargetName"), "iqn.x", "iqn.y"));
    }

    [Theory]
    [InlineData("Reject")]
    [InlineData("Irrelevant")]
    [InlineData("NotUnderstood")]
    public void Settle_special_answers_leave_the_default(string answer)
    {
        foreach (var name in new[] { "ImmediateData", "InitialR2T", "DefaultTime2Wait", "HeaderDigest" })
        {
            var (value, error) = Negotiation.Settle(Key(name), name == "HeaderDigest" ? "None" : name.StartsWith("Default") ? "2" : "Yes", answer);
            Assert.Null(value);
            Assert.Null(error);
        }
    }

    [Theory]
    [InlineData("ImmediateData", "Yes", "No", "No", null)]
    [InlineData("ImmediateData", "Yes", "Yes", "Yes", null)]
    [InlineData("ImmediateData", "No", "No", "No", null)]
    [InlineData("ImmediateData", "No", "Yes", null, "answered Yes to our No")]
    [InlineData("InitialR2T", "No", "Yes", "Yes", null)]
    [InlineData("InitialR2T", "Yes", "Yes", "Yes", null)]
    [InlineData("InitialR2T", "Yes", "No", null, "answered No to our Yes")]
    [InlineData("InitialR2T", "No", "Perhaps", null, "is not Yes or No")]
    [InlineData("ImmediateData", "Yes", "", null, "is not Yes or No")]
    public void Settle_booleans(string name, string offered, string answer, string? value, string? error)
    {
        var (settled, problem) = Negotiation.Settle(Key(name), offered, answer);
        Assert.Equal(value, settled);
        if (error is null) Assert.Null(problem);
        else Assert.Contains(error, problem);
    }

    [Theory]
    [InlineData("MaxBurstLength", "262144", "65536", "65536", null)]
    [InlineData("MaxBurstLength", "262144", "262144", "262144", null)]
    [InlineData("MaxBurstLength", "262144", "0x10000", "65536", null)]        // hex answer settles to a number
    [InlineData("MaxBurstLength", "65536", "262144", null, "minimum rule")]   // more than we offered
    [InlineData("MaxBurstLength", "262144", "256", null, "out of range")]     // below 512
    [InlineData("MaxBurstLength", "262144", "lots", null, "out of range")]
    [InlineData("MaxOutstandingR2T", "1", "0", null, "out of range")]
    [InlineData("DefaultTime2Wait", "2", "20", "20", null)]
    [InlineData("DefaultTime2Wait", "2", "1", null, "maximum rule")]          // less than we offered
    [InlineData("DefaultTime2Retain", "0", "0", "0", null)]
    [InlineData("ErrorRecoveryLevel", "0", "1", null, "minimum rule")]
    public void Settle_numbers(string name, string offered, string answer, string? value, string? error)
    {
        var (settled, problem) = Negotiation.Settle(Key(name), offered, answer);
        Assert.Equal(value, settled);
        if (error is null) Assert.Null(problem);
        else
        {
            Assert.Contains(error, problem);
            Assert.Contains(name, problem);
        }
    }

    [Theory]
    [InlineData("CRC32C,None", "CRC32C", "CRC32C", null)]
    [InlineData("CRC32C,None", "None", "None", null)]
    [InlineData("None", "CRC32C", null, "was not among the offered")]
    [InlineData("CRC32C,None", "CRC32C,None", null, "was not among the offered")]   // an answer is one value
    public void Settle_lists(string offered, string answer, string? value, string? error)
    {
        var (settled, problem) = Negotiation.Settle(Key("DataDigest"), offered, answer);
        Assert.Equal(value, settled);
        if (error is null) Assert.Null(problem);
        else Assert.Contains(error, problem);
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("262144", 262144L)]
    [InlineData("0x40000", 262144L)]
    [InlineData("0XfF", 255L)]
    public void Numbers_parse_in_decimal_and_hex(string text, long expected)
    {
        Assert.True(KeyValues.TryParseNumber(text, out long value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("+5")]
    [InlineData("-5")]
    [InlineData(" 5")]
    [InlineData("0xG1")]
    [InlineData("5k")]
    public void Malformed_numbers_do_not_parse(string text) => Assert.False(KeyValues.TryParseNumber(text, out _));

    [Fact]
    public void Key_table_knows_the_kinds_and_ranges()
    {
        Assert.Equal(KeyKind.BooleanOr, Key("InitialR2T").Kind);
        Assert.Equal(KeyKind.BooleanAnd, Key("ImmediateData").Kind);
        Assert.Equal(KeyKind.NumericMax, Key("DefaultTime2Wait").Kind);
        Assert.Equal(KeyKind.NumericMin, Key("DefaultTime2Retain").Kind);
        Assert.Equal(KeyKind.List, Key("AuthMethod").Kind);
        Assert.Equal(KeyKind.Declarative, Key("MaxRecvDataSegmentLength").Kind);
        Assert.True(Key("MaxRecvDataSegmentLength").IsNumeric);
        Assert.False(Key("TargetName").IsNumeric);
        Assert.Equal((512L, 16777215L), (Key("MaxBurstLength").Min, Key("MaxBurstLength").Max));
        Assert.Null(LoginKeys.Find("X-com.example.Unknown"));
    }
}
