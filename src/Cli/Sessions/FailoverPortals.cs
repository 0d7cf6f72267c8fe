using IscsiUp.Initiator.Discovery;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Sessions;

/// <summary>
/// Tells a logged-in session which other portals of its portal group it may fail over to: those the node record
/// remembers (node.portals, filled by `discover`), or, when it remembers none, those a SendTargets at the login
/// portal lists (with the session's initiator name and CHAP). Finding none is no error: the session then
/// reconnects to its one portal, as before.
/// </summary>
public static class FailoverPortals
{
    /// <summary>How long the SendTargets at login may take; failover is a bonus, never a reason to wait.</summary>
    private static readonly TimeSpan DiscoveryBudget = TimeSpan.FromSeconds(15);

    /// <summary>How long a login waits for the SendTargets before it carries on (the answer may still come later).</summary>
    public static readonly TimeSpan WaitAtLogin = TimeSpan.FromSeconds(2);

    /// <summary>
    /// <see cref="AddAsync"/>, waited for up to <see cref="WaitAtLogin"/>: a target that answers at once has closed the
    /// discovery session before the login is reported, so it is never seen beside the session.
    /// </summary>
    public static async Task AddAtLoginAsync(RecoveringSession session, LoginOptions options, IReadOnlyList<TargetPortal>? known, TextWriter output, CancellationToken ct)
    {
        var adding = AddAsync(session, options, known, output, ct);
        try { await adding.WaitAsync(WaitAtLogin, ct).ConfigureAwait(false); }
        catch (TimeoutException) { }
    }

    public static async Task AddAsync(RecoveringSession session, LoginOptions options, IReadOnlyList<TargetPortal>? known, TextWriter output, CancellationToken ct)
    {
        var inUse = session.Portal;
        int group = session.Current.Parameters.TargetPortalGroupTag ?? 1;
        IReadOnlyList<Portal> siblings;
        if (known is { Count: > 0 }) siblings = PortalGroup.Siblings(known, options.TargetName!, group, inUse);
        else
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
            budget.CancelAfter(DiscoveryBudget);
            // An ISID of its own: with the session's, a target could take the discovery login for a reinstatement.
            try
            {
                siblings = await PortalGroup.DiscoverSiblingsAsync(inUse, options with { TargetName = null, Isid = LoginOptions.NewIsid() }, options.TargetName!, group, budget.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
                if (!ct.IsCancellationRequested) output.WriteLine($"iscsi-up: no failover portals for {options.TargetName}: SendTargets at {inUse} failed ({e.Message})");
                return;
            }
        }
        if (siblings.Count == 0) return;
        session.AddPortals(siblings);
        output.WriteLine($"iscsi-up: {options.TargetName} can fail over from {inUse} to {string.Join(", ", siblings)} (portal group {group})");
    }
}
