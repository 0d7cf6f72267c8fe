using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>A plain byte array as block storage, so tests can look at exactly what landed where.</summary>
internal sealed class MemoryStorage(long capacity) : IBlockStorage
{
    private readonly object _lock = new();

    public byte[] Bytes { get; } = new byte[capacity];
    public long Capacity => Bytes.Length;
    public int Flushes { get; private set; }

    /// <summary>When set, every I/O fails like a dead array.</summary>
    public bool Broken { get; set; }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct = default)
    {
        Check(offset, destination.Length);
        lock (_lock) Bytes.AsSpan((int)offset, destination.Length).CopyTo(destination.Span);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken ct = default)
    {
        Check(offset, source.Length);
        lock (_lock) source.Span.CopyTo(Bytes.AsSpan((int)offset));
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct = default)
    {
        if (Broken) throw new RaidFailedException();
        lock (_lock) Flushes++;
        return ValueTask.CompletedTask;
    }

    private void Check(long offset, int length)
    {
        if (Broken) throw new RaidFailedException();
        if (offset % 512 != 0 || length % 512 != 0 || offset < 0 || offset + length > Capacity)
            throw new ArgumentOutOfRangeException(nameof(offset), $"bad I/O {offset}+{length}");
    }

    public void Dispose() { }
}
