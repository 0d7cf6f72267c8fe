using IscsiUp.Iscsi.Login;
using IscsiUp.TestTarget.Scsi;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// One iSCSI session (I_T nexus) as the target sees it. This target allows one connection per session
/// (MaxConnections=1), so the session's CmdSN window lives here and the connection does the rest.
/// </summary>
public sealed class TargetSession
{
    public TargetSession(LoginOutcome login, CommandWindow window, UnitAttentionState? attention)
    {
        InitiatorName = login.InitiatorName;
        InitiatorAlias = login.InitiatorAlias;
        IsDiscovery = login.IsDiscovery;
        Isid = login.Isid;
        Tsih = login.Tsih;
        Parameters = login.Parameters;
        Window = window;
        Attention = attention;
    }

    public string InitiatorName { get; }
    public string? InitiatorAlias { get; }
    public bool IsDiscovery { get; }
    public byte[] Isid { get; }
    public ushort Tsih { get; }
    public SessionParameters Parameters { get; }
    public CommandWindow Window { get; }

    /// <summary>Unit attentions owed to this initiator (null when the target does not report them).</summary>
    public UnitAttentionState? Attention { get; }

    /// <summary>Same initiator and ISID: a new login with these replaces this session (RFC 7143 section 6.3.5, session reinstatement).</summary>
    public bool SameInitiatorPort(string initiatorName, ReadOnlySpan<byte> isid) =>
        string.Equals(InitiatorName, initiatorName, StringComparison.OrdinalIgnoreCase) && Isid.AsSpan().SequenceEqual(isid);

    public override string ToString() =>
        $"{(IsDiscovery ? "discovery" : "normal")} session TSIH {Tsih} of {InitiatorName} (ISID {Convert.ToHexStringLower(Isid)})";
}
