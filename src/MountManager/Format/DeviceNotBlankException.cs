using IscsiUp.MountManager.Probe;

namespace IscsiUp.MountManager.Format;

/// <summary>Formatting was refused because the device already holds data.</summary>
public sealed class DeviceNotBlankException(ProbeResult found, string? wantedType = null)
    : MountManagerException(
        $"{found.Device} already contains {found.Description}{(wantedType is null ? "" : $", not {wantedType}")}; " +
        "refusing to format — pass --force-format to destroy it")
{
    public string Device => Found.Device;

    /// <summary>What the probe saw on the device.</summary>
    public ProbeResult Found { get; } = found;
}
