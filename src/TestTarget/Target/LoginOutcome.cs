using IscsiUp.Iscsi.Login;

namespace IscsiUp.TestTarget.Target;

/// <summary>What a successful login settled: who the initiator is, the session's identity and parameters, and where numbering continues.</summary>
public sealed record LoginOutcome(
    string InitiatorName,
    string? InitiatorAlias,
    bool IsDiscovery,
    byte[] Isid,
    ushort Tsih,
    ushort ConnectionId,
    SessionParameters Parameters,
    uint FirstCmdSN,
    uint NextStatSN);
