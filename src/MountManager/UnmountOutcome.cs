using IscsiUp.MountManager.Fstab;
using IscsiUp.MountManager.Mount;

namespace IscsiUp.MountManager;

/// <summary>What <see cref="MountService.UnmountAsync"/> did.</summary>
/// <param name="Directory">The mount point.</param>
/// <param name="Unmounted">What was unmounted, or null when nothing was mounted there.</param>
/// <param name="Uuid">The filesystem UUID used to find our fstab line (null if it could not be told).</param>
/// <param name="Fstab">The fstab edit, or null when fstab was left alone.</param>
public sealed record UnmountOutcome(string Directory, MountedFilesystem? Unmounted, string? Uuid, FstabEditResult? Fstab)
{
    public bool WasMounted => Unmounted is not null;

    public bool FstabChanged => Fstab?.Changed == true;
}
