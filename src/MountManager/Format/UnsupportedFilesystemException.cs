namespace IscsiUp.MountManager.Format;

/// <summary>A filesystem type the formatter does not create.</summary>
public sealed class UnsupportedFilesystemException(string fsType)
    : MountManagerException($"unsupported filesystem type '{fsType}'; use {string.Join(" or ", FilesystemTypes.Supported)}")
{
    public string FsType { get; } = fsType;
}
