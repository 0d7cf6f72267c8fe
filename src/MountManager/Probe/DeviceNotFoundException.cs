namespace IscsiUp.MountManager.Probe;

/// <summary>The device path does not exist (or is not a device or image file).</summary>
public sealed class DeviceNotFoundException(string device, string reason)
    : MountManagerException($"{device} {reason}")
{
    public string Device { get; } = device;
}
