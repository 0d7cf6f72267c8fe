using System.Buffers;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// How a command ended: status, sense data for CHECK CONDITION, and the Data-In bytes. Large data (READ) lives
/// in a pooled buffer that <see cref="Dispose"/> returns, so call it once the bytes are on the wire.
/// </summary>
public sealed class ScsiResult : IDisposable
{
    private byte[]? _pooled;
    private readonly ReadOnlyMemory<byte> _data;

    private ScsiResult(byte status, ReadOnlyMemory<byte> data, byte[]? pooled, ReadOnlyMemory<byte> sense)
    {
        Status = status;
        _data = data;
        _pooled = pooled;
        Sense = sense;
    }

    public byte Status { get; }

    /// <summary>Sense data (empty unless the status is CHECK CONDITION).</summary>
    public ReadOnlyMemory<byte> Sense { get; }

    /// <summary>Data for the initiator, already cut to the CDB's allocation length.</summary>
    public ReadOnlyMemory<byte> Data => _data;

    public static ScsiResult Good() => new(ScsiStatus.Good, default, null, default);

    /// <summary>Parameter data, cut to <paramref name="allocationLength"/> as SPC-4 requires.</summary>
    public static ScsiResult Good(byte[] data, long allocationLength) =>
        new(ScsiStatus.Good, data.AsMemory(0, (int)Math.Min(data.Length, allocationLength)), null, default);

    /// <summary>Takes ownership of a buffer rented from <see cref="ArrayPool{T}.Shared"/>.</summary>
    public static ScsiResult GoodPooled(byte[] rented, int length) =>
        new(ScsiStatus.Good, rented.AsMemory(0, length), rented, default);

    public static ScsiResult CheckCondition(byte[] sense) => new(ScsiStatus.CheckCondition, default, null, sense);

    public static ScsiResult CheckCondition(SenseKey key, AdditionalSense sense) => CheckCondition(SenseBuilder.Fixed(key, sense));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _pooled, null) is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
    }

    public override string ToString() => Status == ScsiStatus.Good
        ? $"GOOD ({_data.Length} bytes)"
        : $"status 0x{Status:x2} {(Sense.Length >= 14 ? $"{SenseBuilder.KeyOf(Sense.Span)} {SenseBuilder.AdditionalOf(Sense.Span)}" : "")}";
}
