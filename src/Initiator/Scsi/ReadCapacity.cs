using System.Buffers.Binary;

namespace IscsiUp.Initiator.Scsi;

/// <summary>Capacity of a LUN from READ CAPACITY(16) or (10): block count, block size, thin provisioning.</summary>
public sealed record ReadCapacity(ulong BlockCount, uint BlockSize, bool ThinProvisioned, bool ProtectionEnabled)
{
    public long Bytes => checked((long)BlockCount * BlockSize);

    public static ReadCapacity Parse16(ReadOnlySpan<byte> data)
    {
        if (data.Length < 32) throw new IOException("READ CAPACITY(16) returned short data");
        ulong lastLba = BinaryPrimitives.ReadUInt64BigEndian(data);
        uint blockSize = BinaryPrimitives.ReadUInt32BigEndian(data[8..]);
        return Validate(new ReadCapacity(lastLba + 1, blockSize, (data[14] & 0x80) != 0, (data[12] & 0x01) != 0));
    }

    public static ReadCapacity Parse10(ReadOnlySpan<byte> data)
    {
        if (data.Length < 8) throw new IOException("READ CAPACITY(10) returned short data");
        uint lastLba = BinaryPrimitives.ReadUInt32BigEndian(data);
        uint blockSize = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        return Validate(new ReadCapacity((ulong)lastLba + 1, blockSize, false, false));
    }

    private static ReadCapacity Validate(ReadCapacity capacity) =>
        capacity.BlockSize is 0 or > 1 << 20 || (capacity.BlockSize & (capacity.BlockSize - 1)) != 0
            ? throw new IOException($"target reports an unusable block size of {capacity.BlockSize} bytes")
            : capacity;
}
