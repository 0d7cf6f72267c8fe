namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// Address arithmetic of a RAID-5 array in md's default left-symmetric layout.
/// Stripe <c>s</c> occupies bytes <c>[s*ChunkSize, (s+1)*ChunkSize)</c> of every member; its parity
/// chunk is on member <c>(N-1) - (s mod N)</c> and its data chunks follow on the next members,
/// wrapping around. Logical data is laid out stripe after stripe, chunk after chunk.
/// </summary>
internal sealed class Raid5Layout
{
    public Raid5Layout(int activeDisks, int chunkSize, long stripeCount)
    {
        ActiveDisks = activeDisks;
        ChunkSize = chunkSize;
        StripeCount = stripeCount;
        DataChunksPerStripe = activeDisks - 1;
        StripeDataSize = checked(DataChunksPerStripe * chunkSize);
        Capacity = checked(StripeCount * StripeDataSize);
    }

    public int ActiveDisks { get; }

    public int ChunkSize { get; }

    public long StripeCount { get; }

    public int DataChunksPerStripe { get; }

    /// <summary>Logical bytes held by one stripe.</summary>
    public int StripeDataSize { get; }

    public long Capacity { get; }

    public int ParitySlot(long stripe) => ActiveDisks - 1 - (int)(stripe % ActiveDisks);

    /// <summary>Member slot holding data chunk <paramref name="dataIndex"/> (0-based) of the stripe.</summary>
    public int DataSlot(long stripe, int dataIndex) => (ParitySlot(stripe) + 1 + dataIndex) % ActiveDisks;

    /// <summary>Byte offset on every member where the stripe's chunks start.</summary>
    public long MemberOffset(long stripe) => stripe * ChunkSize;
}
