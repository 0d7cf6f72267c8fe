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

    [Fact]
    public void MaxRecvDataSegmentLength_lands_on_the_side_that_declared_it()
    {
        var parameters = new SessionParameters();

        parameters.Apply(LoginKeys.MaxRecvDataSegmentLength, "4096", fromTarget: true);
        parameters.Apply(LoginKeys.MaxRecvDataSegmentLength, "0x10000", fromTarget: false);

        Assert.Equal(4096, parameters.TargetMaxRecvDataSegmentLength);
        Assert.Equal(65536, parameters.InitiatorMaxRecvDataSegmentLength);
    }

    /// <summary>Where each key the session keeps lands; a key added to the table with a place in the session but no line here fails the tests below.</summary>
    private static readonly Dictionary<string, Func<SessionParameters, object?>> Landing = new()
    {
        [LoginKeys.HeaderDigest] = p => p.HeaderDigest,
        [LoginKeys.DataDigest] = p => p.DataDigest,
        [LoginKeys.MaxConnections] = p => p.MaxConnections,
        [LoginKeys.InitialR2T] = p => p.InitialR2T,
        [LoginKeys.ImmediateData] = p => p.ImmediateData,
        [LoginKeys.MaxBurstLength] = p => p.MaxBurstLength,
        [LoginKeys.FirstBurstLength] = p => p.FirstBurstLength,
        [LoginKeys.DefaultTime2Wait] = p => p.DefaultTime2Wait,
        [LoginKeys.DefaultTime2Retain] = p => p.DefaultTime2Retain,
        [LoginKeys.MaxOutstandingR2T] = p => p.MaxOutstandingR2T,
        [LoginKeys.DataPduInOrder] = p => p.DataPduInOrder,
        [LoginKeys.DataSequenceInOrder] = p => p.DataSequenceInOrder,
        [LoginKeys.ErrorRecoveryLevel] = p => p.ErrorRecoveryLevel,
        [LoginKeys.TargetAlias] = p => p.TargetAlias,
        [LoginKeys.TargetPortalGroupTag] = p => p.TargetPortalGroupTag,
    };

    /// <summary>MaxRecvDataSegmentLength lands on one of two sides: it has a test of its own.</summary>
    [Fact]
    public void Every_key_the_session_keeps_is_checked_here()
    {
        var kept = LoginKeys.All.Where(k => k.Apply is not null && k.Name != LoginKeys.MaxRecvDataSegmentLength).Select(k => k.Name);
        Assert.Equal(kept.Order(), Landing.Keys.Order());
    }

    [Fact]
    public void A_settled_value_of_each_key_lands_in_the_session()
    {
        foreach (var (name, read) in Landing)
        {
            var key = LoginKeys.Find(name)!;
            var parameters = new SessionParameters();
            object? before = read(parameters);

            parameters.Apply(name, OtherThanDefault(key), fromTarget: false);

            Assert.NotEqual(before, read(parameters));
            if (key.IsNumeric) Assert.Equal(key.Max, Convert.ToInt64(read(parameters), System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static string OtherThanDefault(KeyDefinition key) => key switch
    {
        { IsNumeric: true } => KeyValues.Format(key.Max), // the top of a range is never the default
        { Kind: KeyKind.List } => KeyValues.Crc32c, // the digests, "None" by default
        { Kind: KeyKind.BooleanAnd or KeyKind.BooleanOr } => key.RfcDefault == KeyValues.Yes ? KeyValues.No : KeyValues.Yes,
        _ => "disk-7", // TargetAlias
    };

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
