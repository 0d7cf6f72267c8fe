namespace IscsiUp.MountManager.Tools;

/// <summary>Which package provides each tool, for "install X" hints.</summary>
internal static class ToolPackages
{
    public static string For(string tool) => Path.GetFileName(tool) switch
    {
        "mkfs.xfs" => "xfsprogs",
        "mkfs.ext4" or "mkfs.ext3" or "mkfs.ext2" => "e2fsprogs",
        "udevadm" => "systemd-udev",
        "chcon" or "chown" => "coreutils",
        _ => "util-linux",
    };

    public static string CommandLine(string tool, IReadOnlyList<string> arguments) =>
        arguments.Count == 0 ? tool : $"{tool} {string.Join(' ', arguments)}";
}
