namespace IscsiUp.MountManager.Mount;

/// <summary>The device is already mounted somewhere else.</summary>
public sealed class DeviceInUseException(string device, string mountpoint, string what)
    : MountManagerException($"{device} is mounted on {mountpoint}; {what}")
{
    public string Device { get; } = device;

    public string Mountpoint { get; } = mountpoint;
}
