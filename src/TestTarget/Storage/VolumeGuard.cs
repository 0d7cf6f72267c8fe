namespace IscsiUp.TestTarget.Storage;

/// <summary>Argument checks shared by the <see cref="IResizableStorage"/> volumes.</summary>
internal static class VolumeGuard
{
    public static void CheckCapacity(long capacity)
    {
        if (capacity < 512 || capacity % 512 != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a volume's capacity is a positive multiple of 512 bytes");
    }

    public static void CheckGrowth(long current, long capacity)
    {
        CheckCapacity(capacity);
        if (capacity < current) throw new InvalidOperationException($"shrinking from {current} to {capacity} bytes is not supported");
    }

    public static void CheckRange(long offset, int length, long capacity)
    {
        if (offset < 0 || length < 0 || offset > capacity - length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"range [{offset}, {offset + length}) is outside the volume ({capacity} bytes)");
    }
}
