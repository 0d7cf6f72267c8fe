namespace IscsiUp.TestTarget.Storage;

/// <summary>Thrown by every I/O on a RAID-5 array that has lost more members than parity can cover.</summary>
public sealed class RaidFailedException : IOException
{
    public RaidFailedException()
        : base("RAID-5 array failed")
    {
    }

    public RaidFailedException(string message)
        : base(message)
    {
    }

    public RaidFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal RaidFailedException(int lostMembers, int activeMembers)
        : base($"RAID-5 array failed: {lostMembers} of {activeMembers} members lost")
    {
        LostMembers = lostMembers;
        ActiveMembers = activeMembers;
    }

    /// <summary>How many active members were lost (0 when unknown).</summary>
    public int LostMembers { get; }

    /// <summary>How many active members the array has (0 when unknown).</summary>
    public int ActiveMembers { get; }
}
