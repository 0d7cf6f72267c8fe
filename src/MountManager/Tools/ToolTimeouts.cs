namespace IscsiUp.MountManager.Tools;

/// <summary>Upper bounds for every external command. Defaults suit a LUN over a slow link.</summary>
public sealed record ToolTimeouts
{
    public static ToolTimeouts Default { get; } = new();

    /// <summary>blkid, findmnt, chcon: quick queries.</summary>
    public TimeSpan Query { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>mkfs: writes metadata (and mkfs.xfs discards) across the whole device.</summary>
    public TimeSpan Format { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>mount: xfs log recovery on a large filesystem can take a while.</summary>
    public TimeSpan Mount { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>umount: flushes dirty data over the network.</summary>
    public TimeSpan Unmount { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long <c>udevadm settle</c> may wait for the event queue (it is given this as --timeout).</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(10);
}
