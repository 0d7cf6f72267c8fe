namespace IscsiUp.Iscsi.Login;

/// <summary>Login stages as coded in the CSG/NSG fields of Login PDUs.</summary>
public enum LoginStage : byte
{
    SecurityNegotiation = 0,
    OperationalNegotiation = 1,
    FullFeaturePhase = 3,
}
