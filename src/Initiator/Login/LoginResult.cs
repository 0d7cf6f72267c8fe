using IscsiUp.Iscsi.Login;
namespace IscsiUp.Initiator.Login;

/// <summary>What a successful login settled: parameters and the sequence numbers to continue with.</summary>
public sealed record LoginResult(SessionParameters Parameters, ushort Tsih, uint NextCmdSN, uint ExpStatSN, uint MaxCmdSN, byte[] Isid);
