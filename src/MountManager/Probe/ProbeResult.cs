namespace IscsiUp.MountManager.Probe;

/// <summary>The answer of <c>blkid -p -o export DEVICE</c>.</summary>
public sealed record ProbeResult(string Device, DeviceContent Content, IReadOnlyDictionary<string, string> Values)
{
    public bool IsBlank => Content == DeviceContent.Blank;

    /// <summary>TYPE: the filesystem or signature type (xfs, ext4, swap, linux_raid_member…).</summary>
    public string? Type => Get("TYPE");

    public string? Uuid => Get("UUID");

    public string? Label => Get("LABEL");

    /// <summary>PTTYPE: the partition table type (gpt, dos).</summary>
    public string? PartitionTableType => Get("PTTYPE");

    public string? Usage => Get("USAGE");

    /// <summary>What was found, for messages such as "DEVICE already contains {Description}".</summary>
    public string Description => Content switch
    {
        DeviceContent.Blank => "nothing",
        DeviceContent.Filesystem => Uuid is null ? $"{Article(Type)} {Type} filesystem" : $"{Article(Type)} {Type} filesystem (UUID {Uuid})",
        DeviceContent.PartitionTable => $"a {PartitionTableType} partition table",
        DeviceContent.OtherSignature => $"{Article(Type)} {Type ?? "unknown"} signature",
        _ => "several conflicting signatures",
    };

    private string? Get(string key) => Values.TryGetValue(key, out var value) && value.Length > 0 ? value : null;

    private static readonly HashSet<string> SpelledOut = new(StringComparer.OrdinalIgnoreCase) { "ntfs", "f2fs", "hfs", "hfsplus", "nilfs2", "LVM2_member", "sysv" };

    /// <summary>"an xfs", "an ext4", "a btrfs": types are read as letters ("ex-eff-ess") or words.</summary>
    private static string Article(string? word)
    {
        if (word is not { Length: > 0 }) return "a";
        var first = char.ToLowerInvariant(word[0]);
        return "aeiox".Contains(first) || SpelledOut.Contains(word) ? "an" : "a";
    }
}
