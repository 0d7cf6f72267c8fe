namespace IscsiUp.MountManager.Fstab;

/// <summary>What an fstab edit did.</summary>
public enum FstabChange
{
    /// <summary>The exact line was already there; nothing was written.</summary>
    AlreadyPresent,

    /// <summary>A new line was appended.</summary>
    Added,

    /// <summary>A conflicting (or outdated) line was replaced in place.</summary>
    Replaced,

    /// <summary>Our line was removed.</summary>
    Removed,

    /// <summary>There was no line to remove; nothing was written.</summary>
    NotFound,
}
