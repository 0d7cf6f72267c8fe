using IscsiUp.Initiator.Nbd.Kernel;
using System.Text.Json.Serialization;
using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Login;
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
    public int? Lun { get; init; }
    public string? NbdDevice { get; init; }
    public string? NbdListen { get; init; }
    public string? NbdUnix { get; init; }
    public int NbdTimeoutSeconds { get; init; } = KernelNbdTimeouts.DefaultRequestSeconds;
    public int NbdDeadTimeoutSeconds { get; init; } = KernelNbdTimeouts.DefaultDeadConnectionSeconds;
    public DigestMode Digest { get; init; }
    public int TimeoutSeconds { get; init; } = 15;
    public string? ChapUser { get; init; }
    public byte[]? ChapSecret { get; init; }
    public string? ChapTargetUser { get; init; }
    public byte[]? ChapTargetSecret { get; init; }

    public static LoginRequest From(Portal portal, LoginOptions options, int? lun, ExportRequest export) => new()
    {
        Target = options.TargetName!,
        Portal = portal.ToString(),
        Initiator = options.InitiatorName,
        Lun = lun,
        NbdDevice = export.NbdDevice,
        NbdListen = export.NbdListen,
        NbdUnix = export.NbdUnix is { } path ? System.IO.Path.GetFullPath(path) : null,
        NbdTimeoutSeconds = export.NbdTimeouts.RequestSeconds,
        NbdDeadTimeoutSeconds = export.NbdTimeouts.DeadConnectionSeconds,
        Digest = options.HeaderDigest,
        TimeoutSeconds = (int)options.Timeout.TotalSeconds,
        ChapUser = options.Chap?.User,
        ChapSecret = options.Chap?.Secret,
        ChapTargetUser = options.Chap?.TargetUser,
        ChapTargetSecret = options.Chap?.TargetSecret,
    };

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
        DataDigest = Digest,
        Timeout = TimeSpan.FromSeconds(TimeoutSeconds),
        Chap = ChapUser is null || ChapSecret is null ? null : new ChapCredentials(ChapUser, ChapSecret, ChapTargetUser, ChapTargetSecret),
    };

    /// <summary>Never shows the secrets, only that they are there.</summary>
    public override string ToString() => $"login {Target} at {Portal}{(ChapUser is null ? "" : $" with CHAP user {ChapUser}")}";
}
