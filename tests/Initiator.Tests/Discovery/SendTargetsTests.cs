using IscsiUp.Initiator.Discovery;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Tests.Discovery;

/// <summary>Grouping a SendTargets answer into targets and their portals (RFC 7143 appendix C).</summary>
public sealed class SendTargetsTests
{
    private static readonly Portal Discovery = new("192.0.2.1", 3260);

    [Fact]
    public void Groups_addresses_under_the_target_named_before_them()
    {
        var answer = new TextKeys
        {
            { "TargetName", "iqn.2026-11.example:alpha" },
            { "TargetAddress", "192.0.2.10:3260,1" },
            { "TargetAddress", "[2001:db8::10]:3261,2" },
            { "TargetName", "iqn.2026-11.example:beta" },          // no address: reachable at the discovery portal
            { "TargetName", "iqn.2026-11.example:gamma" },
            { "TargetAddress", "gamma.example" },                   // no port, no tag
            { "TargetAddress", "192.0.2.30:860,7" },
        };

        var targets = SendTargets.ParseAnswer(answer, Discovery, discoveryGroupTag: 5);

        Assert.Equal(["iqn.2026-11.example:alpha", "iqn.2026-11.example:beta", "iqn.2026-11.example:gamma"], targets.Select(t => t.Name).ToArray());
        Assert.Equal(
            [new TargetPortal(new Portal("192.0.2.10", 3260), 1), new TargetPortal(new Portal("2001:db8::10", 3261), 2)],
            targets[0].Portals.ToArray());
        Assert.Equal([new TargetPortal(Discovery, 5)], targets[1].Portals.ToArray());
        Assert.Equal(
            [new TargetPortal(new Portal("gamma.example", 3260), 1), new TargetPortal(new Portal("192.0.2.30", 860), 7)],
            targets[2].Portals.ToArray());
        Assert.Equal(["192.0.2.10:3260,1", "[2001:db8::10]:3261,2"], targets[0].Portals.Select(p => p.ToString()).ToArray());
    }

    [Fact]
    public void Addresses_before_any_target_name_and_other_keys_are_ignored()
    {
        var answer = new TextKeys
        {
            { "TargetAddress", "198.51.100.1:3260,1" },
            { "TargetName", "iqn.2026-11.example:only" },
            { "X-com.example.Note", "ignored" },
            { "TargetAlias", "disk" },
        };
        var target = Assert.Single(SendTargets.ParseAnswer(answer, Discovery, 1));
        Assert.Equal("iqn.2026-11.example:only", target.Name);
        Assert.Equal(new TargetPortal(Discovery, 1), Assert.Single(target.Portals));
    }

    [Fact]
    public void Empty_answer_lists_no_targets() => Assert.Empty(SendTargets.ParseAnswer(new TextKeys(), Discovery, 1));

    [Fact]
    public void Malformed_address_names_the_target()
    {
        var answer = new TextKeys { { "TargetName", "iqn.2026-11.example:bad" }, { "TargetAddress", "192.0.2.9:99999,1" } };
        var error = Assert.Throws<ProtocolException>(() => SendTargets.ParseAnswer(answer, Discovery, 1));
        Assert.Contains("iqn.2026-11.example:bad", error.Message);
    }

    [Fact]
    public void Parses_an_answer_from_its_wire_form()
    {
        var wire = "TargetName=iqn.2026-11.example:a\0TargetAddress=127.0.0.1:3260,1\0TargetName=iqn.2026-11.example:b\0"u8.ToArray();
        var targets = SendTargets.ParseAnswer(TextKeys.Parse(wire), new Portal("127.0.0.1", 13260), 1);
        Assert.Equal(2, targets.Count);
        Assert.Equal("127.0.0.1:3260,1", Assert.Single(targets[0].Portals).ToString());
        Assert.Equal("127.0.0.1:13260,1", Assert.Single(targets[1].Portals).ToString());
    }

    [Fact]
    public async Task Discovery_refuses_options_that_name_a_target()
    {
        var options = new IscsiUp.Initiator.Login.LoginOptions { InitiatorName = "iqn.2026-11.test:i", TargetName = "iqn.2026-11.test:t" };
        await Assert.ThrowsAsync<ArgumentException>(() => SendTargets.DiscoverAsync(Discovery, options));
    }
}
