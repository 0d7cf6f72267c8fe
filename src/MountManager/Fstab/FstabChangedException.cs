namespace IscsiUp.MountManager.Fstab;

/// <summary>Someone else changed fstab between our read and our write; nothing was written.</summary>
public sealed class FstabChangedException(string path)
    : MountManagerException($"{path} changed while iscsi-up was editing it; nothing was written, try again")
{
    public string Path { get; } = path;
}
