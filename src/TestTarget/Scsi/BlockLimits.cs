namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// The limits this device reports in the Block Limits VPD page (0xB0) and enforces. Initiators such as Linux sd
/// split I/O by them, so they keep any one command's buffer bounded.
/// </summary>
public sealed record BlockLimits
{
    /// <summary>Largest READ/WRITE/VERIFY in blocks (4 MiB).</summary>
    public uint MaxTransferBlocks { get; init; } = 8192;
    /// <summary>Preferred transfer size in blocks (1 MiB).</summary>
    public uint OptimalTransferBlocks { get; init; } = 2048;
    /// <summary>Transfers should be multiples of this many blocks (4 KiB).</summary>
    public ushort OptimalTransferGranularity { get; init; } = 8;
    /// <summary>Largest total of one UNMAP command (64 MiB): unmapping writes zeroes, so it costs real I/O.</summary>
    public uint MaxUnmapBlocks { get; init; } = 131072;
    public uint MaxUnmapDescriptors { get; init; } = 64;
    public uint OptimalUnmapGranularity { get; init; } = 8;
    /// <summary>Largest WRITE SAME in blocks (64 MiB).</summary>
    public ulong MaxWriteSameBlocks { get; init; } = 131072;
}
