namespace IscsiUp.MountManager.Probe;

/// <summary>What a low-level probe found on a device.</summary>
public enum DeviceContent
{
    /// <summary>No signature at all (blkid exit code 2): safe to format.</summary>
    Blank,

    /// <summary>A filesystem (USAGE=filesystem), with TYPE and usually UUID.</summary>
    Filesystem,

    /// <summary>A partition table (PTTYPE), e.g. gpt or dos.</summary>
    PartitionTable,

    /// <summary>Another signature: swap, a RAID member, LUKS, LVM…</summary>
    OtherSignature,

    /// <summary>Several conflicting signatures (blkid exit code 8).</summary>
    Ambivalent,
}
