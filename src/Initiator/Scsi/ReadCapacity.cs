using System.Buffers.Binary;

namespace IscsiUp.Initiator.Scsi;

/// <summary>Capacity of a LUN from READ CAPACITY(16) or (10): block count, block size, thin provisioning.</summary>
public sealed record ReadCapacity(ulong BlockCount, uint BlockSize, bool ThinProvisioned, bool ProtectionEnabled)
{
    public long Bytes => checked((long)BlockCount * BlockSize);

    /// <param name="source">Who answered, for the error ("LUN 0 of target iqn...").</param>
    public static ReadCapacity Parse16(ReadOnlySpan<byte> data, string source = "the target")
    {
        if (data.Length < 32) throw new IOException($"READ CAPACITY(16) from {source} returned short data");
        ulong lastLba = BinaryPrimitives.ReadUInt64BigEndian(data);
        uint blockSize = BinaryPrimitives.ReadUInt32BigEndian(data[8..]);
        return Validate(lastLba, blockSize, (data[14] & 0x80) != 0, (data[12] & 0x01) != 0, source);
    }

    public static ReadCapacity Parse10(ReadOnlySpan<byte> data, string source = "the target")
    {
        if (data.Length < 8) throw new IOException($"READ CAPACITY(10) from {source} returned short data");
        uint lastLba = BinaryPrimitives.ReadUInt32BigEndian(data);
        uint blockSize = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        // 0xFFFFFFFF means "too large for READ CAPACITY(10)": only (16) could tell, and the target refused it.
        if (lastLba == uint.MaxValue)
            throw new IOException($"{source} reports a capacity too large for READ CAPACITY(10) but does not support READ CAPACITY(16)");
        return Validate(lastLba, blockSize, false, false, source);
    }

    /// <summary>Largest size we serve: the NBD size and every byte offset must fit a signed 64-bit number.</summary>
    public const long MaxBytes = long.MaxValue;

    private static ReadCapacity Validate(ulong lastLba, uint blockSize, bool thin, bool protection, string source)
    {
        if (blockSize is 0 or > 1 << 20 || (blockSize & (blockSize - 1)) != 0)
            throw new IOException($"{source} reports an unusable block size of {blockSize} bytes");
        // lastLba + 1 blocks of blockSize bytes must fit in MaxBytes (2^64-1 would even wrap the block count to 0).
        if (lastLba >= (ulong)MaxBytes / blockSize)
            throw new IOException($"{source} reports an impossible capacity: last block {lastLba} of {blockSize} bytes (more than {MaxBytes} bytes)");
        return new ReadCapacity(lastLba + 1, blockSize, thin, protection);
    }
}
