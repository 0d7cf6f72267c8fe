namespace IscsiUp.MountManager.Fstab;

/// <summary>The edited fstab failed verification; the file on disk was left as it was.</summary>
public sealed class FstabVerificationException(string path, IReadOnlyList<string> newErrors)
    : MountManagerException(
        $"findmnt --verify rejects the edited {path}: {newErrors[0]}" +
        (newErrors.Count > 1 ? $" (and {newErrors.Count - 1} more)" : "") +
        $"; {path} was left unchanged")
{
    /// <summary>The errors the edit would have introduced.</summary>
    public IReadOnlyList<string> NewErrors { get; } = newErrors;
}
