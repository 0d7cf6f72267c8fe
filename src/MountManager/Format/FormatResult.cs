using IscsiUp.MountManager.Probe;

namespace IscsiUp.MountManager.Format;

/// <summary>A filesystem that was just created.</summary>
/// <param name="Device">The formatted device.</param>
/// <param name="FsType">xfs or ext4.</param>
/// <param name="Uuid">The new filesystem UUID, read back with a fresh probe.</param>
/// <param name="Previous">What the device held before (blank unless formatting was forced).</param>
public sealed record FormatResult(string Device, string FsType, string Uuid, ProbeResult Previous)
{
    /// <summary>True when something was destroyed (only possible with force).</summary>
    public bool Overwrote => !Previous.IsBlank;
}
