using IscsiUp.Iscsi.Login;
using IscsiUp.TestTarget.Scsi;
using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// What an <see cref="IscsiTarget"/> serves and how it negotiates. The local values below are the target's side
/// of each RFC 7143 negotiation; what is in force is settled with every initiator at login.
/// </summary>
public sealed record TargetOptions
{
    public required string TargetName { get; init; }

    /// <summary>Address to listen on (an IP address or "localhost").</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 lets the system pick one (read it back from <see cref="IscsiTarget.Port"/>).</summary>
    public int Port { get; init; } = 3260;

    /// <summary>
    /// More addresses to listen on, all in the one portal group (port 0 picks a free port for each). Login works on
    /// every portal and SendTargets lists them all.
    /// </summary>
    public IReadOnlyList<Cli.ListenAddress> AdditionalPortals { get; init; } = [];

    /// <summary>Initiator names allowed to open normal sessions; empty allows every initiator.</summary>
    public IReadOnlyList<string> Acl { get; init; } = [];

    /// <summary>CHAP secrets; null means AuthMethod=None.</summary>
    public TargetChap? Chap { get; init; }

    /// <summary>Block storage per LUN (LUN 0 at least). The caller keeps ownership and disposes it.</summary>
    public required IReadOnlyDictionary<int, IBlockStorage> Luns { get; init; }

    public string? TargetAlias { get; init; }

    /// <summary>
    /// More host:port portals announced by SendTargets, after the address the initiator connected to (for example
    /// the outside address of a NAT, or the other addresses of a multi-homed host listening on 0.0.0.0).
    /// </summary>
    public IReadOnlyList<string> AdvertisedPortals { get; init; } = [];

    /// <summary>This target has a single portal group.</summary>
    public ushort PortalGroupTag => 1;

    /// <summary>Our declared MaxRecvDataSegmentLength: the largest data segment we accept.</summary>
    public int MaxRecvDataSegmentLength { get; init; } = 262144;

    /// <summary>Upper bound offered for MaxBurstLength (the smaller of the two sides wins).</summary>
    public int MaxBurstLength { get; init; } = 1048576;

    /// <summary>Upper bound offered for FirstBurstLength (the smaller of the two sides wins).</summary>
    public int FirstBurstLength { get; init; } = 262144;

    /// <summary>Upper bound offered for MaxOutstandingR2T.</summary>
    public int MaxOutstandingR2T { get; init; } = 8;

    /// <summary>Our ImmediateData value (Yes only if both sides say Yes).</summary>
    public bool ImmediateData { get; init; } = true;

    /// <summary>Our InitialR2T value (Yes if either side says Yes); false lets initiators send unsolicited Data-Out.</summary>
    public bool InitialR2T { get; init; }

    /// <summary>
    /// Our value for an operational key the initiator offers, which <see cref="Negotiation.Answer"/> weighs against
    /// its offer; null for a key we have no value for.
    /// </summary>
    public string? OperationalValue(string key) => key switch
    {
        LoginKeys.HeaderDigest or LoginKeys.DataDigest => KeyValues.Crc32c + ",None", // the initiator's preference decides
        LoginKeys.MaxConnections => "1", // one connection per session
        LoginKeys.InitialR2T => KeyValues.Format(InitialR2T),
        LoginKeys.ImmediateData => KeyValues.Format(ImmediateData),
        LoginKeys.MaxRecvDataSegmentLength => KeyValues.Format(MaxRecvDataSegmentLength),
        LoginKeys.MaxBurstLength => KeyValues.Format(MaxBurstLength),
        LoginKeys.FirstBurstLength => KeyValues.Format(FirstBurstLength),
        LoginKeys.DefaultTime2Wait or LoginKeys.DefaultTime2Retain => "0", // no connection or task reinstatement
        LoginKeys.MaxOutstandingR2T => KeyValues.Format(MaxOutstandingR2T),
        LoginKeys.DataPduInOrder or LoginKeys.DataSequenceInOrder => KeyValues.Yes,
        LoginKeys.ErrorRecoveryLevel => "0",
        LoginKeys.IfMarker or LoginKeys.OfMarker => KeyValues.No,
        _ => null,
    };

    /// <summary>How many commands an initiator may have queued (MaxCmdSN - ExpCmdSN + 1 when idle).</summary>
    public int CommandWindow { get; init; } = 128;

    /// <summary>Report UNIT ATTENTION / POWER ON OR RESET once per LUN to every new session, like a real disk after power-on.</summary>
    public bool ReportPowerOnUnitAttention { get; init; }

    /// <summary>When set, the target pings idle connections with NOP-In and drops those that do not answer within two intervals.</summary>
    public TimeSpan? NopInInterval { get; init; }

    /// <summary>A login that takes longer than this is dropped.</summary>
    public TimeSpan LoginTimeout { get; init; } = TimeSpan.FromSeconds(15);

    public BlockLimits BlockLimits { get; init; } = new();
}
