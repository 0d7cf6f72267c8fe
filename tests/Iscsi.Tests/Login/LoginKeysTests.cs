using IscsiUp.Iscsi.Login;

namespace IscsiUp.Iscsi.Tests.Login;

/// <summary>
/// The one key table: its RFC 7143 defaults (written out here from the RFC, not read from the table), and that a
/// settled value of every key the session keeps reaches <see cref="SessionParameters"/>.
/// </summary>
public sealed class LoginKeysTests
{
    [Theory]
    [InlineData("HeaderDigest", "None")]
    [InlineData("DataDigest", "None")]
    [InlineData("AuthMethod", "None")]
    [InlineData("MaxConnections", "1")]
    [InlineData("InitialR2T", "Yes")]
    [InlineData("ImmediateData", "Yes")]
    [InlineData("MaxRecvDataSegmentLength", "8192")]
    [InlineData("MaxBurstLength", "262144")]
    [InlineData("FirstBurstLength", "65536")]
    [InlineData("DefaultTime2Wait", "2")]
    [InlineData("DefaultTime2Retain", "20")]
    [InlineData("MaxOutstandingR2T", "1")]
    [InlineData("DataPDUInOrder", "Yes")]
    [InlineData("DataSequenceInOrder", "Yes")]
    [InlineData("ErrorRecoveryLevel", "0")]
    [InlineData("IFMarker", "No")]
    [InlineData("OFMarker", "No")]
    [InlineData("SessionType", "Normal")]
    public void Defaults_are_those_of_RFC_7143_section_13(string name, string expected) =>
        Assert.Equal(expected, LoginKeys.Find(name)?.RfcDefault);

    [Fact]
    public void A_new_session_starts_from_the_RFC_defaults()
    {
        var parameters = new SessionParameters();

        Assert.False(parameters.HeaderDigest);
        Assert.False(parameters.DataDigest);
        Assert.Equal(1, parameters.MaxConnections);
        Assert.True(parameters.InitialR2T);
        Assert.True(parameters.ImmediateData);
        Assert.Equal(8192, parameters.InitiatorMaxRecvDataSegmentLength);
        Assert.Equal(8192, parameters.TargetMaxRecvDataSegmentLength);
        Assert.Equal(262144, parameters.MaxBurstLength);
        Assert.Equal(65536, parameters.FirstBurstLength);
        Assert.Equal(2, parameters.DefaultTime2Wait);
        Assert.Equal(20, parameters.DefaultTime2Retain);
        Assert.Equal(1, parameters.MaxOutstandingR2T);
        Assert.True(parameters.DataPduInOrder);
        Assert.True(parameters.DataSequenceInOrder);
        Assert.Equal(0, parameters.ErrorRecoveryLevel);
        Assert.Null(parameters.TargetAlias);
        Assert.Null(parameters.TargetPortalGroupTag);
    }

    /// <summary>Where each numeric key lands; a numeric key added to the table without a line here fails the test below.</summary>
    private static readonly Dictionary<string, Func<SessionParameters, long?>> NumericLanding = new()
    {
        [LoginKeys.MaxConnections] = p => p.MaxConnections,
        [LoginKeys.MaxBurstLength] = p => p.MaxBurstLength,
        [LoginKeys.FirstBurstLength] = p => p.FirstBurstLength,
        [LoginKeys.DefaultTime2Wait] = p => p.DefaultTime2Wait,
        [LoginKeys.DefaultTime2Retain] = p => p.DefaultTime2Retain,
        [LoginKeys.MaxOutstandingR2T] = p => p.MaxOutstandingR2T,
        [LoginKeys.ErrorRecoveryLevel] = p => p.ErrorRecoveryLevel,
        [LoginKeys.TargetPortalGroupTag] = p => p.TargetPortalGroupTag,
    };

    [Fact]
    public void Every_numeric_key_but_MaxRecvDataSegmentLength_has_a_place_in_the_session()
    {
        var numeric = LoginKeys.All.Where(k => k.IsNumeric && k.Name != LoginKeys.MaxRecvDataSegmentLength).Select(k => k.Name);
        Assert.Equal(numeric.Order(), NumericLanding.Keys.Order());
    }

    [Fact]
    public void A_settled_value_of_each_numeric_key_lands_in_the_session()
    {
        foreach (var (name, read) in NumericLanding)
        {
            var key = LoginKeys.Find(name)!;
            var parameters = new SessionParameters();
            Assert.NotEqual(key.Max, read(parameters)); // the range's top is never the default: the test sees a change

            parameters.Apply(name, KeyValues.Format(key.Max), fromTarget: false);

            Assert.Equal(key.Max, read(parameters));
        }
    }

    [Fact]
    public void MaxRecvDataSegmentLength_lands_on_the_side_that_declared_it()
    {
        var parameters = new SessionParameters();

        parameters.Apply(LoginKeys.MaxRecvDataSegmentLength, "4096", fromTarget: true);
        parameters.Apply(LoginKeys.MaxRecvDataSegmentLength, "0x10000", fromTarget: false);

        Assert.Equal(4096, parameters.TargetMaxRecvDataSegmentLength);
        Assert.Equal(65536, parameters.InitiatorMaxRecvDataSegmentLength);
    }

    /// <summary>Where each yes/no key the session keeps lands (the digests as "CRC32C or not").</summary>
    private static readonly Dictionary<string, Func<SessionParameters, bool>> SwitchLanding = new()
    {
        [LoginKeys.HeaderDigest] = p => p.HeaderDigest,
        [LoginKeys.DataDigest] = p => p.DataDigest,
        [LoginKeys.InitialR2T] = p => p.InitialR2T,
        [LoginKeys.ImmediateData] = p => p.ImmediateData,
        [LoginKeys.DataPduInOrder] = p => p.DataPduInOrder,
        [LoginKeys.DataSequenceInOrder] = p => p.DataSequenceInOrder,
    };

    [Fact]
    public void Every_negotiated_key_the_session_keeps_is_numeric_or_a_switch()
    {
        var kept = LoginKeys.All.Where(k => k.Apply is not null && !k.IsNumeric && k.Kind != KeyKind.Declarative).Select(k => k.Name);
        Assert.Equal(kept.Order(), SwitchLanding.Keys.Order());
    }

    [Fact]
    public void A_settled_value_of_each_switch_lands_in_the_session()
    {
        foreach (var (name, read) in SwitchLanding)
        {
            var parameters = new SessionParameters();
            bool before = read(parameters);
            string other = LoginKeys.Find(name)!.Kind == KeyKind.List ? KeyValues.Crc32c : KeyValues.Format(!before);

            parameters.Apply(name, other, fromTarget: false);

            Assert.NotEqual(before, read(parameters));
        }
    }

    [Fact]
    public void A_key_the_session_does_not_keep_changes_nothing()
    {
        var parameters = new SessionParameters();
        string before = parameters.ToString();

        parameters.Apply(LoginKeys.IfMarker, KeyValues.Yes, fromTarget: false);
        parameters.Apply("X-com.example.Unknown", "1", fromTarget: true);

        Assert.Equal(before, parameters.ToString());
    }

    [Fact]
    public void Every_default_is_a_value_its_key_allows()
    {
        foreach (var key in LoginKeys.All.Where(k => k.RfcDefault is not null && k.IsNumeric))
        {
            Assert.True(KeyValues.TryParseNumber(key.RfcDefault!, out long value), key.Name);
            Assert.InRange(value, key.Min, key.Max);
        }
    }

    [Fact]
    public void Names_are_unique() =>
        Assert.Equal(LoginKeys.All.Count, LoginKeys.All.Select(k => k.Name).Distinct().Count());
}
