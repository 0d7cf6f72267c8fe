namespace IscsiUp.MountManager.Format;

/// <summary>The filesystems iscsi-up creates, and how their mkfs is told to overwrite.</summary>
public static class FilesystemTypes
{
    public const string Xfs = "xfs";
    public const string Ext4 = "ext4";

    /// <summary>The type used when the caller names none.</summary>
    public const string Default = Xfs;

    public static IReadOnlyList<string> Supported { get; } = [Xfs, Ext4];

    public static bool IsSupported(string fsType) => Supported.Contains(fsType, StringComparer.Ordinal);

    internal static string MkfsTool(string fsType) => $"mkfs.{fsType}";

    /// <summary>mkfs.xfs -f / mke2fs -F: overwrite an existing signature instead of refusing or prompting.</summary>
    internal static string ForceFlag(string fsType) => fsType == Xfs ? "-f" : "-F";
}
