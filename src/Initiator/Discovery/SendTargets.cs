using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Discovery;

/// <summary>SendTargets discovery (RFC 7143 appendix C): a discovery session that asks the portal for every target.</summary>
public static class SendTargets
{
    public static async Task<IReadOnlyList<DiscoveredTarget>> DiscoverAsync(Portal portal, LoginOptions options, CancellationToken ct = default)
    {
        if (!options.IsDiscovery) throw new ArgumentException("discovery needs options without a target name", nameof(options));
        var session = await IscsiSession.LoginAsync(portal, options, ct).ConfigureAwait(false);
        try
        {
            TextKeys answer;
            try
            {
                answer = await session.TextAsync(new TextKeys { { LoginKeys.SendTargets, "All" } }, ct).ConfigureAwait(false);
            }
            catch (ProtocolException e)
            {
                throw new ProtocolException($"{e.Message} (SendTargets answer from {portal})");
            }
            return ParseAnswer(answer, portal, session.Parameters.TargetPortalGroupTag ?? 1);
        }
        finally
        {
            try { await session.LogoutAsync(ct).ConfigureAwait(false); }
            catch (IOException) { /* the answer is what matters; a failed discovery logout changes nothing */ }
        }
    }

    /// <summary>
    /// Groups TargetName/TargetAddress pairs; a target listed without any address is reachable at the
    /// discovery portal itself.
    /// </summary>
    public static IReadOnlyList<DiscoveredTarget> ParseAnswer(TextKeys answer, Portal discoveryPortal, int discoveryGroupTag)
    {
        var targets = new List<DiscoveredTarget>();
        string? name = null;
        var portals = new List<TargetPortal>();
        void Flush()
        {
            if (name is null) return;
            if (portals.Count == 0) portals.Add(new TargetPortal(discoveryPortal, discoveryGroupTag));
            targets.Add(new DiscoveredTarget(name, portals.ToArray()));
            portals.Clear();
        }
        foreach (var (key, value) in answer)
        {
            if (key == LoginKeys.TargetName)
            {
                Flush();
                name = value;
            }
            else if (key == LoginKeys.TargetAddress && name is not null)
            {
                try { portals.Add(TargetPortal.Parse(value)); }
                catch (FormatException e) { throw new ProtocolException($"target {name} has a malformed TargetAddress: {e.Message}"); }
            }
        }
        Flush();
        return targets;
    }
}
