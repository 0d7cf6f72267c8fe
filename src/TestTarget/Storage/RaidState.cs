namespace IscsiUp.TestTarget.Storage;

/// <summary>Health of a <see cref="Raid5Array"/>, as <c>mdadm --detail</c> would report it.</summary>
public enum RaidState
{
    /// <summary>All members in sync.</summary>
    Clean,

    /// <summary>One member lost and no rebuild running: reads of its chunks are reconstructed from parity.</summary>
    Degraded,

    /// <summary>One member lost and its contents are being rebuilt onto a hot spare.</summary>
    Rebuilding,

    /// <summary>Two or more members lost: every I/O throws <see cref="RaidFailedException"/>.</summary>
    Failed,
}
