namespace IscsiUp.Cli.Sessions;

/// <summary>
/// One exposed LUN of a session as its record keeps it: where it is exposed (/dev/nbdN, an NBD URL, or "-") and
/// what identifies the disk, so a successor daemon can check it is reconnecting the same one.
/// </summary>
public sealed record LunRecord(int Lun, string Device, long CapacityBytes)
{
    /// <summary>The LUN's unit serial number (VPD 0x80) when it has one.</summary>
    public string? Serial { get; init; }
    /// <summary>The LUN's world-wide name (VPD 0x83, `naa:HEX` or `eui:HEX`) when it has one: udev's by-id names come from it.</summary>
    public string? Identifier { get; init; }
}
