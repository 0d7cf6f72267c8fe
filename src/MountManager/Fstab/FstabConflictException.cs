namespace IscsiUp.MountManager.Fstab;

/// <summary>fstab already mounts something else on the directory, or the filesystem somewhere else.</summary>
public sealed class FstabConflictException(string message, int lineNumber, string line) : MountManagerException(message)
{
    /// <summary>1-based number of the conflicting line.</summary>
    public int LineNumber { get; } = lineNumber;

    /// <summary>The conflicting line as it is in the file.</summary>
    public string Line { get; } = line;
}
