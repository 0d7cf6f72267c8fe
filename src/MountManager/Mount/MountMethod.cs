namespace IscsiUp.MountManager.Mount;

/// <summary>How the filesystem got mounted.</summary>
public enum MountMethod
{
    /// <summary><c>mount UUID=… DIR</c>: /dev/disk/by-uuid had the link.</summary>
    ByUuid,

    /// <summary><c>mount DEVICE DIR</c>: no /dev/disk/by-uuid link (no udev), so the device path was used.</summary>
    ByDevicePath,

    /// <summary>It was already mounted there; nothing was done.</summary>
    AlreadyMounted,
}
