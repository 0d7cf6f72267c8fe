namespace IscsiUp.MountManager.Mount;

/// <summary>The mount directory cannot take a new mount: already a mount point, not empty, or not a directory.</summary>
public sealed class MountpointNotUsableException(string directory, string reason)
    : MountManagerException($"{directory} {reason}")
{
    public string Directory { get; } = directory;
}
