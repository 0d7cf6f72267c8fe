namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// One mount entry: <c>source target fstype [options [dump [pass]]]</c>. The raw fields are kept;
/// decoded values (octal escapes resolved) are used for comparisons.
/// </summary>
public sealed class FstabEntry
{
    private readonly string[] _fields;

    internal FstabEntry(string[] fieldBytes)
    {
        _fields = fieldBytes;
        Source = FstabSource.Parse(fieldBytes[0]);
        TargetBytes = FstabEscaping.Decode(fieldBytes[1]);
        NormalizedTargetBytes = FstabPaths.Normalize(TargetBytes);
    }

    public FstabSource Source { get; }

    /// <summary>The mount point (or <c>none</c>/<c>swap</c>), escapes decoded.</summary>
    public string Target => FstabText.ToDisplay(TargetBytes);

    public string? FsType => Field(2);

    public string? Options => Field(3);

    public string? Dump => Field(4);

    public string? Pass => Field(5);

    /// <summary>The mount options, split on commas (empty when the field is missing).</summary>
    public IReadOnlyList<string> OptionList => Options?.Split(',') ?? [];

    internal string TargetBytes { get; }

    internal string NormalizedTargetBytes { get; }

    internal bool HasTarget(string normalizedDirBytes) => NormalizedTargetBytes == normalizedDirBytes;

    /// <summary>Same meaning as the line we would write: fstype, options, dump and pass (missing numbers read as 0).</summary>
    internal bool Matches(string fsType, string options, int dump, int pass) =>
        FsType == fsType && Options == options && Number(Dump) == dump && Number(Pass) == pass;

    private string? Field(int index) =>
        index < _fields.Length ? FstabText.ToDisplay(FstabEscaping.Decode(_fields[index])) : null;

    private static int? Number(string? field) => field is null ? 0 : int.TryParse(field, out var value) ? value : null;
}
