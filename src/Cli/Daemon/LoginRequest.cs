using System.Text.Json.Serialization;
using IscsiUp.Cli.Config;
using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Login;
using IscsiUp.Nbd.Kernel;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// Everything the daemon needs to log in for a client: what `login` parsed, with paths already made absolute and
/// CHAP secrets already read (the client may read files the daemon cannot name relative to its own directory).
/// Secrets travel only over the root-only control socket and are never printed.
/// </summary>
public sealed record LoginRequest
{
    public required string Target { get; init; }
    public required string Portal { get; init; }
    public required string Initiator { get; init; }
    /// <summary>The one LUN an older client asked for; <see cref="Luns"/> replaces it (null for both: every disk LUN).</summary>
    public int? Lun { get; init; }
    public int[]? Luns { get; init; }
    public string? NbdDevice { get; init; }
    public string? NbdListen { get; init; }
    public string? NbdUnix { get; init; }
    public int NbdTimeoutSeconds { get; init; } = KernelNbdTimeouts.DefaultRequestSeconds;
    public int NbdDeadTimeoutSeconds { get; init; } = KernelNbdTimeouts.DefaultDeadConnectionSeconds;
    /// <summary>Header digest; <see cref="DataDigest"/> when it differs (iscsi-up.conf sets them apart).</summary>
    public DigestMode Digest { get; init; }
    public DigestMode? DataDigest { get; init; }
    public int TimeoutSeconds { get; init; } = 15;
    /// <summary>Recovery timeouts from iscsi-up.conf; absent in a request from an older client: the built-in defaults.</summary>
    public int? ReplacementTimeoutSeconds { get; init; }
    public int? NopIntervalSeconds { get; init; }
    public int? NopTimeoutSeconds { get; init; }
    public string? ChapUser { get; init; }
    public byte[]? ChapSecret { get; init; }
    public string? ChapTargetUser { get; init; }
    public byte[]? ChapTargetSecret { get; init; }
    public SessionTimeouts? Timeouts { get; init; }
    /// <summary>The target's portals (HOST:PORT,TPGT) the node record remembers, for failover; null: discovered at login.</summary>
    public string[]? Portals { get; init; }

    /// <summary>The remembered portals; a malformed one (a request from something else than our client) is left out.</summary>
    [JsonIgnore]
    public IReadOnlyList<IscsiUp.Initiator.Discovery.TargetPortal>? KnownPortals =>
        Portals?.Select(text => IscsiUp.Initiator.Discovery.TargetPortal.TryParse(text, out var portal) ? portal : null).OfType<IscsiUp.Initiator.Discovery.TargetPortal>().ToArray();

    public static LoginRequest From(Portal portal, LoginOptions options, IReadOnlyList<int>? luns, ExportRequest export, RecoveryOptions? recovery = null) => new()
    {
        ReplacementTimeoutSeconds = recovery is null ? null : (int)recovery.ReplacementTimeout.TotalSeconds,
        NopIntervalSeconds = recovery is null ? null : (int)recovery.NopInterval.TotalSeconds,
        NopTimeoutSeconds = recovery is null ? null : (int)recovery.NopTimeout.TotalSeconds,
        Target = options.TargetName!,
        Portal = portal.ToString(),
        Initiator = options.InitiatorName,
        Lun = luns?.FirstOrDefault(),
        Luns = luns is null ? null : [.. luns],
        NbdDevice = export.NbdDevice,
        NbdListen = export.NbdListen,
        NbdUnix = export.NbdUnix is { } path ? System.IO.Path.GetFullPath(path) : null,
        NbdTimeoutSeconds = export.NbdTimeouts.RequestSeconds,
        NbdDeadTimeoutSeconds = export.NbdTimeouts.DeadConnectionSeconds,
        Digest = options.HeaderDigest,
        DataDigest = options.DataDigest == options.HeaderDigest ? null : options.DataDigest,
        TimeoutSeconds = (int)options.Timeout.TotalSeconds,
        ChapUser = options.Chap?.User,
        ChapSecret = options.Chap?.Secret,
        ChapTargetUser = options.Chap?.TargetUser,
        ChapTargetSecret = options.Chap?.TargetSecret,
    };

    [JsonIgnore]
    public RecoveryOptions Recovery
    {
        get
        {
            var recovery = new RecoveryOptions();
            var configured = recovery with
            {
                ReplacementTimeout = ReplacementTimeoutSeconds is { } replacement ? TimeSpan.FromSeconds(replacement) : recovery.ReplacementTimeout,
                NopInterval = NopIntervalSeconds is { } interval ? TimeSpan.FromSeconds(interval) : recovery.NopInterval,
                NopTimeout = NopTimeoutSeconds is { } timeout ? TimeSpan.FromSeconds(timeout) : recovery.NopTimeout,
            };
            // The node's and the command line's timeouts win over iscsi-up.conf's.
            return (Timeouts ?? SessionTimeouts.Default).ToRecovery(configured);
        }
    }

    /// <summary>The LUNs to expose (null: every disk LUN), from an older client's single <see cref="Lun"/> too.</summary>
    [JsonIgnore]
    public IReadOnlyList<int>? WantedLuns => Luns is { Length: > 0 } ? Luns : Lun is { } one ? [one] : null;

    [JsonIgnore]
    public ExportRequest Export => new(NbdListen, NbdUnix, NbdDevice)
    {
        NbdTimeouts = new KernelNbdTimeouts(NbdTimeoutSeconds, NbdDeadTimeoutSeconds),
    };

    public LoginOptions ToOptions() => new()
    {
        InitiatorName = Initiator,
        TargetName = Target,
        HeaderDigest = Digest,
        DataDigest = DataDigest ?? Digest,
        Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
        Chap = ChapUser is null || ChapSecret is null ? null : new ChapCredentials(ChapUser, ChapSecret, ChapTargetUser, ChapTargetSecret),
    };

    /// <summary>Never shows the secrets, only that they are there.</summary>
    public override string ToString() => $"login {Target} at {Portal}{(ChapUser is null ? "" : $" with CHAP user {ChapUser}")}";
}
