using System.Text;
using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Initiator.Tests.Login;

/// <summary>
/// What the initiator offers in the operational stage, byte for byte (tgtd, LIO and the tests compare it), and
/// that its answer to a key the target offers first comes from the same values as its offer.
/// </summary>
public sealed class OperationalOfferTests
{
    private static LoginOptions Normal(DigestMode digest = DigestMode.None) => new()
    {
        InitiatorName = "iqn.2026-11.org.iscsi-up.test:initiator",
        TargetName = "iqn.2026-11.org.iscsi-up.test:disk0",
        HeaderDigest = digest,
        DataDigest = digest,
        Timeout = TimeSpan.FromSeconds(5),
    };

    private static LoginOptions Discovery() => Normal() with { TargetName = null };

    /// <summary>The text of the first operational request (the security stage with AuthMethod=None comes first).</summary>
    private static async Task<(string Text, ScriptedLoginConnection Connection)> OfferAsync(LoginOptions options, Func<Pdu, byte[]?>? script = null)
    {
        var connection = new ScriptedLoginConnection(script ?? LoginScripts.WithoutAuthentication);
        await new InitiatorLogin(connection, options).RunAsync(CancellationToken.None);
        return (Encoding.UTF8.GetString(connection.Sent[1].Encode()).Replace('\0', ' ').TrimEnd(), connection);
    }

    [Fact]
    public async Task A_normal_session_offers_these_keys_in_this_order()
    {
        var (text, _) = await OfferAsync(Normal(DigestMode.Prefer));

        Assert.Equal(
            "HeaderDigest=CRC32C,None DataDigest=CRC32C,None MaxConnections=1 InitialR2T=No ImmediateData=Yes " +
            "MaxRecvDataSegmentLength=262144 MaxBurstLength=16776192 FirstBurstLength=262144 DefaultTime2Wait=2 " +
            "DefaultTime2Retain=0 MaxOutstandingR2T=1 DataPDUInOrder=Yes DataSequenceInOrder=Yes ErrorRecoveryLevel=0 " +
            "IFMarker=No OFMarker=No", text);
    }

    [Fact]
    public async Task A_discovery_session_offers_these_keys_in_this_order()
    {
        var (text, _) = await OfferAsync(Discovery());

        Assert.Equal(
            "HeaderDigest=None DataDigest=None MaxRecvDataSegmentLength=32768 DefaultTime2Wait=2 DefaultTime2Retain=0 " +
            "IFMarker=No OFMarker=No ErrorRecoveryLevel=0", text);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_key_offered_is_in_the_key_table(bool discovery)
    {
        var options = discovery ? Discovery() : Normal();
        foreach (string key in options.OfferedKeys)
        {
            Assert.NotNull(LoginKeys.Find(key));
            Assert.NotNull(options.OperationalValue(key));
        }
    }

    [Fact]
    public void Discovery_leaves_out_exactly_the_keys_irrelevant_to_it()
    {
        var discovery = Discovery().OfferedKeys;
        var normal = Normal().OfferedKeys;

        Assert.DoesNotContain(discovery, key => LoginKeys.Find(key)!.IrrelevantForDiscovery);
        Assert.Equal(normal.Where(key => !LoginKeys.Find(key)!.IrrelevantForDiscovery).Order(), discovery.Order());
    }

    [Fact]
    public void Every_negotiated_key_has_a_value_of_ours()
    {
        var options = Normal();
        foreach (var key in LoginKeys.All.Where(k => k.Kind != KeyKind.Declarative))
            Assert.True(options.OperationalValue(key.Name) is not null, $"no value of ours for {key.Name}");
    }

    [Fact]
    public async Task A_key_the_target_offers_first_is_answered_with_the_value_a_normal_session_offers()
    {
        // A discovery session does not offer MaxBurstLength or MaxConnections: a target may propose them.
        var options = Discovery() with { MaxBurstLength = 65536 };
        var (_, connection) = await OfferAsync(options, request => ((request.Flags >> 2) & 3) == 0
            ? LoginScripts.Response(request, 0x81, new TextKeys { { LoginKeys.AuthMethod, "None" } })
            : TextKeys.Parse(request.Data.Span).Contains(LoginKeys.HeaderDigest)
                ? LoginScripts.Response(request, 0x07, new TextKeys { { LoginKeys.MaxBurstLength, "262144" }, { LoginKeys.MaxConnections, "4" } })
                : LoginScripts.Response(request, 0x87, new TextKeys()));

        var answer = connection.Sent[2];
        Assert.Equal("65536", answer[LoginKeys.MaxBurstLength]); // the smaller: ours
        Assert.Equal(options.OperationalValue(LoginKeys.MaxConnections), answer[LoginKeys.MaxConnections]);
    }
}
