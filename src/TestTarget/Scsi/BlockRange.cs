namespace IscsiUp.TestTarget.Scsi;

/// <summary>A run of logical blocks named by a CDB: the first LBA and the number of blocks.</summary>
public readonly record struct BlockRange(ulong Lba, uint Blocks)
{
    /// <summary>True when every block lies below <paramref name="blockCount"/> (also checks the LBA itself for zero-length ranges).</summary>
    public bool FitsIn(ulong blockCount) => Lba <= blockCount && Blocks <= blockCount - Lba;
}
