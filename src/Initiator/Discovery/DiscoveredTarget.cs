namespace IscsiUp.Initiator.Discovery;

/// <summary>A target named in a SendTargets answer, with every portal it can be reached at.</summary>
public sealed record DiscoveredTarget(string Name, IReadOnlyList<TargetPortal> Portals);
