using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Discovery;

/// <summary>
/// The portals a session may fail over to: those of its own portal group (same target name, same TPGT), since
/// RFC 7143 ties a session (its ISID) to one portal group and reinstates it only through a portal of that group.
/// </summary>
public static class PortalGroup
{
    /// <summary>The portals of <paramref name="target"/> in group <paramref name="groupTag"/>, other than <paramref name="inUse"/>, in the order given.</summary>
    public static IReadOnlyList<Portal> Siblings(IEnumerable<TargetPortal> known, string target, int groupTag, Portal inUse, IEnumerable<DiscoveredTarget>? discovered = null)
    {
        var all = known.Concat((discovered ?? []).Where(t => string.Equals(t.Name, target, StringComparison.OrdinalIgnoreCase)).SelectMany(t => t.Portals));
        return [.. all.Where(p => p.GroupTag == groupTag && p.Portal != inUse).Select(p => p.Portal).Distinct()];
    }

    /// <summary>
    /// Asks <paramref name="portal"/> (SendTargets, with <paramref name="discovery"/>'s initiator name and CHAP) for
    /// the other portals of <paramref name="target"/>'s group <paramref name="groupTag"/>.
    /// </summary>
    public static async Task<IReadOnlyList<Portal>> DiscoverSiblingsAsync(Portal portal, LoginOptions discovery, string target, int groupTag, CancellationToken ct)
    {
        var targets = await SendTargets.DiscoverAsync(portal, discovery, ct).ConfigureAwait(false);
        return Siblings([], target, groupTag, portal, targets);
    }
}
