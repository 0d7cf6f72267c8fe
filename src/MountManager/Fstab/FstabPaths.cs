namespace IscsiUp.MountManager.Fstab;

/// <summary>Mount point comparison: <c>/iscsi</c>, <c>/iscsi/</c> and <c>//iscsi</c> are the same directory.</summary>
internal static class FstabPaths
{
    public static string Normalize(string path)
    {
        if (!path.StartsWith('/')) return path;
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return "/" + string.Join('/', parts);
    }

    /// <summary>An administrator's directory argument as a normalized byte string.</summary>
    public static string FromDirectoryArgument(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory) || !directory.StartsWith('/'))
            throw new MountManagerException($"mount directory must be an absolute path, not '{directory}'");
        return Normalize(FstabText.FromString(Path.GetFullPath(directory)));
    }
}
