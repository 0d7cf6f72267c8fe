namespace IscsiUp.TestTarget.Storage;

/// <summary>Argument checks shared by the <see cref="IMemberDisk"/> implementations.</summary>
internal static class MemberDiskGuard
{
    public static void CheckSize(long size)
    {
        if (size <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "Disk size must be positive.");
        }
    }

    public static void CheckRange(long offset, int length, long size)
    {
        if (offset < 0 || offset > size || length > size - offset)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset),
                offset,
                $"Range [{offset}, {offset + length}) is outside the disk (size {size} bytes).");
        }
    }
}
