namespace IscsiUp.Iscsi.Pdus;

/// <summary>32-bit serial number arithmetic (RFC 1982) used for CmdSN, StatSN and DataSN.</summary>
public static class SerialNumber
{
    public static bool LessThan(uint a, uint b) => a != b && (int)(a - b) < 0;
    public static bool LessOrEqual(uint a, uint b) => a == b || (int)(a - b) < 0;
    public static bool GreaterThan(uint a, uint b) => LessThan(b, a);
}
