namespace IscsiUp.MountManager.Fstab;

/// <summary>The outcome of an fstab edit.</summary>
/// <param name="Change">What happened.</param>
/// <param name="LineNumber">1-based line that was added, found, replaced or (first) removed; 0 for <see cref="FstabChange.NotFound"/>.</param>
/// <param name="Line">Our line as it is (or was, for a removal) in the file.</param>
/// <param name="RemovedLines">Lines taken out of the file (replaced or removed), as they were.</param>
public sealed record FstabEditResult(FstabChange Change, int LineNumber, string? Line, IReadOnlyList<string> RemovedLines)
{
    /// <summary>Whether the file content differs from before.</summary>
    public bool Changed => Change is FstabChange.Added or FstabChange.Replaced or FstabChange.Removed;

    /// <summary>One line for the administrator: "added line 12", "already present (line 4)", …</summary>
    public string Description => Change switch
    {
        FstabChange.AlreadyPresent => $"already present (line {LineNumber})",
        FstabChange.Added => $"added line {LineNumber}",
        FstabChange.Replaced => $"replaced line {LineNumber} (was: {string.Join(" | ", RemovedLines)})",
        FstabChange.Removed => RemovedLines.Count == 1 ? $"removed line {LineNumber}" : $"removed {RemovedLines.Count} lines",
        _ => "no matching line",
    };
}
