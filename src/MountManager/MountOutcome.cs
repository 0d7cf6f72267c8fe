using IscsiUp.MountManager.Format;
using IscsiUp.MountManager.Fstab;
using IscsiUp.MountManager.Mount;

namespace IscsiUp.MountManager;

/// <summary>What <see cref="MountService.MountAsync"/> did.</summary>
/// <param name="Device">The device that was mounted.</param>
/// <param name="Directory">The mount point (absolute, normalized).</param>
/// <param name="Uuid">The filesystem UUID now in fstab.</param>
/// <param name="FsType">The filesystem type.</param>
/// <param name="Format">The mkfs that ran, or null when the device already had a filesystem.</param>
/// <param name="Method">How it was mounted (or that it already was).</param>
/// <param name="DirectoryCreated">Whether the mount point directory was created.</param>
/// <param name="Fstab">The fstab edit.</param>
public sealed record MountOutcome(
    string Device,
    string Directory,
    string Uuid,
    string FsType,
    FormatResult? Format,
    MountMethod Method,
    bool DirectoryCreated,
    FstabEditResult Fstab)
{
    public bool Formatted => Format is not null;

    public bool FstabChanged => Fstab.Changed;
}
