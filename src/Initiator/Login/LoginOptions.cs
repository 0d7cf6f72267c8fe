using IscsiUp.Iscsi.Login;
namespace IscsiUp.Initiator.Login;

/// <summary>Digest use: None never, Prefer offers CRC32C first but accepts None, Require refuses None.</summary>
public enum DigestMode { None, Prefer, Require }

/// <summary>What the initiator proposes at login. Defaults follow open-iscsi's (docs/ARCHITECTURE.md, "Negotiated defaults").</summary>
public sealed record LoginOptions
{
    public required string InitiatorName { get; init; }

    /// <summary>The target to log in to; null for a discovery session.</summary>
    public string? TargetName { get; init; }

    public bool IsDiscovery => TargetName is null;
    public ChapCredentials? Chap { get; init; }
    /// <summary>CHAP_A values to offer, strongest first; defaults to every algorithm this machine allows.</summary>
    public IReadOnlyList<int>? ChapAlgorithms { get; init; }
    public DigestMode HeaderDigest { get; init; } = DigestMode.None;
    public DigestMode DataDigest { get; init; } = DigestMode.None;
    public int MaxRecvDataSegmentLength { get; init; } = 262144;
    public int MaxBurstLength { get; init; } = 16776192;
    public int FirstBurstLength { get; init; } = 262144;
    public bool ImmediateData { get; init; } = true;
    public bool InitialR2T { get; init; }
    public int MaxOutstandingR2T { get; init; } = 1;
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Session identifier; the same ISID and a TSIH reinstate a session after a reconnect.</summary>
    public byte[] Isid { get; init; } = NewIsid();
    public ushort Tsih { get; init; }
    public ushort ConnectionId { get; init; }

    /// <summary>
    /// The operational keys we offer, in the order open-iscsi sends them: the bytes on the wire are compared by
    /// tests and by real targets, so the order is part of the behaviour. Values come from <see cref="OperationalValue"/>.
    /// </summary>
    public IReadOnlyList<string> OfferedKeys => IsDiscovery ? DiscoveryOffer : NormalOffer;

    private static readonly string[] NormalOffer =
    [
        LoginKeys.HeaderDigest, LoginKeys.DataDigest, LoginKeys.MaxConnections, LoginKeys.InitialR2T, LoginKeys.ImmediateData,
        LoginKeys.MaxRecvDataSegmentLength, LoginKeys.MaxBurstLength, LoginKeys.FirstBurstLength, LoginKeys.DefaultTime2Wait,
        LoginKeys.DefaultTime2Retain, LoginKeys.MaxOutstandingR2T, LoginKeys.DataPduInOrder, LoginKeys.DataSequenceInOrder,
        LoginKeys.ErrorRecoveryLevel, LoginKeys.IfMarker, LoginKeys.OfMarker,
    ];

    /// <summary>A discovery session carries no SCSI data: the keys irrelevant there (<see cref="KeyDefinition.IrrelevantForDiscovery"/>) are left out.</summary>
    private static readonly string[] DiscoveryOffer =
    [
        LoginKeys.HeaderDigest, LoginKeys.DataDigest, LoginKeys.MaxRecvDataSegmentLength, LoginKeys.DefaultTime2Wait,
        LoginKeys.DefaultTime2Retain, LoginKeys.IfMarker, LoginKeys.OfMarker, LoginKeys.ErrorRecoveryLevel,
    ];

    /// <summary>
    /// Our value for an operational key: what we offer, and what we answer with when the target offers the key
    /// first, so the two cannot disagree. Null for a key we have no value for.
    /// </summary>
    public string? OperationalValue(string key) => key switch
    {
        LoginKeys.HeaderDigest => DigestOffer(HeaderDigest),
        LoginKeys.DataDigest => DigestOffer(DataDigest),
        LoginKeys.MaxConnections => "1", // one connection per session
        LoginKeys.InitialR2T => KeyValues.Format(InitialR2T),
        LoginKeys.ImmediateData => KeyValues.Format(ImmediateData),
        LoginKeys.MaxRecvDataSegmentLength => KeyValues.Format(DeclaredMaxRecvDataSegmentLength),
        LoginKeys.MaxBurstLength => KeyValues.Format(MaxBurstLength),
        LoginKeys.FirstBurstLength => KeyValues.Format(FirstBurstLength),
        LoginKeys.DefaultTime2Wait => "2", // open-iscsi's value
        LoginKeys.DefaultTime2Retain => "0", // no task outlives its connection (error recovery level 0)
        LoginKeys.MaxOutstandingR2T => KeyValues.Format(MaxOutstandingR2T),
        LoginKeys.DataPduInOrder or LoginKeys.DataSequenceInOrder => KeyValues.Yes,
        LoginKeys.ErrorRecoveryLevel => "0", // a lost connection is recovered by logging in again
        LoginKeys.IfMarker or LoginKeys.OfMarker => KeyValues.No,
        LoginKeys.AuthMethod => "None", // authentication is settled in the security stage; offered later, it gets None
        _ => null,
    };

    /// <summary>What we declare: discovery answers are small, so open-iscsi's 32768 there.</summary>
    public int DeclaredMaxRecvDataSegmentLength => IsDiscovery ? Math.Min(MaxRecvDataSegmentLength, 32768) : MaxRecvDataSegmentLength;

    private static string DigestOffer(DigestMode mode) => mode switch
    {
        DigestMode.Prefer => KeyValues.Crc32c + ",None",
        DigestMode.Require => KeyValues.Crc32c,
        _ => "None",
    };

    /// <summary>A random-format ISID (T=10b): 0x80, then random bytes, qualifier last.</summary>
    public static byte[] NewIsid()
    {
        var isid = new byte[6];
        System.Security.Cryptography.RandomNumberGenerator.Fill(isid.AsSpan(1));
        isid[0] = 0x80;
        return isid;
    }
}
