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

    /// <summary>A random-format ISID (T=10b): 0x80, then random bytes, qualifier last.</summary>
    public static byte[] NewIsid()
    {
        var isid = new byte[6];
        System.Security.Cryptography.RandomNumberGenerator.Fill(isid.AsSpan(1));
        isid[0] = 0x80;
        return isid;
    }
}
