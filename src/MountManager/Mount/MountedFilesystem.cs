namespace IscsiUp.MountManager.Mount;

/// <summary>One line of findmnt: what is mounted where.</summary>
/// <param name="Source">The device (for a bind mount, with the subdirectory in brackets).</param>
/// <param name="Target">The mount point.</param>
/// <param name="FsType">The filesystem type.</param>
/// <param name="Uuid">The filesystem UUID when known to udev/blkid, else null.</param>
public sealed record MountedFilesystem(string Source, string Target, string FsType, string? Uuid);
