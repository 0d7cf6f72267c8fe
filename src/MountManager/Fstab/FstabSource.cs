namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// The first field of an fstab entry: a tag (<c>UUID=</c>, <c>LABEL=</c>, <c>PARTUUID=</c>,
/// <c>PARTLABEL=</c>, <c>ID=</c>, value optionally quoted) or a path / pseudo source (<c>/dev/sda1</c>,
/// <c>server:/export</c>, <c>tmpfs</c>).
/// </summary>
public sealed class FstabSource
{
    private const string ByUuidPrefix = "/dev/disk/by-uuid/";
    private static readonly string[] Tags = ["UUID", "LABEL", "PARTUUID", "PARTLABEL", "ID"];

    private FstabSource(string raw, string? tag, string value)
    {
        RawBytes = raw;
        Tag = tag;
        ValueBytes = value;
    }

    /// <summary>The field exactly as written (escapes and quotes included).</summary>
    public string Raw => FstabText.ToDisplay(RawBytes);

    /// <summary>UUID, LABEL, PARTUUID, PARTLABEL or ID; null for a path or pseudo source. Case-sensitive, as in libmount.</summary>
    public string? Tag { get; }

    /// <summary>The tag value without quotes, or the path, with octal escapes decoded.</summary>
    public string Value => FstabText.ToDisplay(ValueBytes);

    /// <summary>The filesystem UUID this source names: <c>UUID=x</c> or <c>/dev/disk/by-uuid/x</c>.</summary>
    public string? Uuid => Tag == "UUID"
        ? Value
        : Tag is null && ValueBytes.StartsWith(ByUuidPrefix, StringComparison.Ordinal) ? Value[ByUuidPrefix.Length..] : null;

    internal string RawBytes { get; }

    internal string ValueBytes { get; }

    internal static FstabSource Parse(string rawBytes)
    {
        var decoded = FstabEscaping.Decode(rawBytes);
        var equals = decoded.IndexOf('=');
        if (equals > 0 && Tags.Contains(decoded[..equals], StringComparer.Ordinal))
        {
            var value = decoded[(equals + 1)..];
            if (value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0]) value = value[1..^1];
            return new FstabSource(rawBytes, decoded[..equals], value);
        }
        return new FstabSource(rawBytes, null, decoded);
    }

    /// <summary>Whether this source names the filesystem with <paramref name="uuid"/> (compared without regard to case).</summary>
    public bool IsUuid(string uuid) => Uuid is { } own && string.Equals(own, uuid, StringComparison.OrdinalIgnoreCase);

    public override string ToString() => Raw;
}
