namespace IscsiUp.TestTarget.Storage;

/// <summary>Block storage whose capacity can grow while it serves I/O (a volume a storage array can extend).</summary>
public interface IResizableStorage : IBlockStorage
{
    /// <summary>Grows the capacity to <paramref name="capacity"/> bytes (a multiple of 512, not smaller than now); new bytes read as zero.</summary>
    void Grow(long capacity);
}
