using IscsiUp.Initiator.Discovery;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Tests.Discovery;

/// <summary>Which portals a session may fail over to: its own target's, in its own portal group, other than the one in use.</summary>
public sealed class PortalGroupTests
{
    private static readonly Portal InUse = new("192.0.2.1", 3260);

    [Fact]
    public void Siblings_are_the_targets_other_portals_of_the_same_group_once_each_in_the_order_listed()
    {
        IReadOnlyList<DiscoveredTarget> discovered =
        [
            new("iqn.2026-11.example:other", [new TargetPortal(new Portal("192.0.2.9", 3260), 1)]),
            new("IQN.2026-11.example:disk", // names are case-insensitive (RFC 3722)
            [
                new TargetPortal(InUse, 1),
                new TargetPortal(new Portal("192.0.2.3", 3260), 1),
                new TargetPortal(new Portal("192.0.2.4", 3260), 2), // another portal group: no reinstatement there
                new TargetPortal(new Portal("192.0.2.2", 3261), 1),
            ]),
        ];
        TargetPortal[] known = [new(new Portal("192.0.2.2", 3261), 1), new(new Portal("192.0.2.5", 3260), 1)];

        var siblings = PortalGroup.Siblings(known, "iqn.2026-11.example:disk", 1, InUse, discovered);

        Assert.Equal([new Portal("192.0.2.2", 3261), new Portal("192.0.2.5", 3260), new Portal("192.0.2.3", 3260)], siblings);
        Assert.Empty(PortalGroup.Siblings([new TargetPortal(InUse, 1)], "iqn.2026-11.example:disk", 1, InUse));
    }
}
