using IscsiUp.Nbd;

namespace IscsiUp.Cli.Sessions;

/// <summary>The I/O a session's LUN has served through NBD, as `session -P 3` shows it.</summary>
public sealed class IoCounters
{
    internal long Reads, ReadBytes, Writes, WriteBytes, Flushes, Errors;

    public long ReadCount => Volatile.Read(ref Reads);
    public long ReadByteCount => Volatile.Read(ref ReadBytes);
    public long WriteCount => Volatile.Read(ref Writes);
    public long WriteByteCount => Volatile.Read(ref WriteBytes);
    public long FlushCount => Volatile.Read(ref Flushes);
    public long ErrorCount => Volatile.Read(ref Errors);
}

/// <summary>Passes every request to the LUN and counts it (one atomic add per request, nothing per byte).</summary>
public sealed class CountingBackend(IBlockBackend inner, IoCounters counters) : IBlockBackend
{
    public long Capacity => inner.Capacity;
    public int BlockSize => inner.BlockSize;
    public int PreferredBlockSize => inner.PreferredBlockSize;
    public int MaxTransferLength => inner.MaxTransferLength;
    public bool IsReadOnly => inner.IsReadOnly;
    public bool SupportsFua => inner.SupportsFua;
    public bool SupportsFlush => inner.SupportsFlush;
    public bool SupportsTrim => inner.SupportsTrim;
    public bool SupportsWriteZeroes => inner.SupportsWriteZeroes;
    public bool SupportsMultiConnection => inner.SupportsMultiConnection;

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct)
    {
        Interlocked.Increment(ref counters.Reads);
        Interlocked.Add(ref counters.ReadBytes, destination.Length);
        return Counted(inner.ReadAsync(offset, destination, ct));
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct)
    {
        Interlocked.Increment(ref counters.Writes);
        Interlocked.Add(ref counters.WriteBytes, source.Length);
        return Counted(inner.WriteAsync(offset, source, fua, ct));
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref counters.Flushes);
        return Counted(inner.FlushAsync(ct));
    }

    public ValueTask TrimAsync(long offset, long length, CancellationToken ct) => Counted(inner.TrimAsync(offset, length, ct));

    public ValueTask WriteZeroesAsync(long offset, long length, bool mayUnmap, bool fua, CancellationToken ct) =>
        Counted(inner.WriteZeroesAsync(offset, length, mayUnmap, fua, ct));

    /// <summary>Counts a failure; a request that completed at once costs no state machine.</summary>
    private ValueTask Counted(ValueTask operation)
    {
        if (operation.IsCompletedSuccessfully) return operation;
        return Await(operation);

        async ValueTask Await(ValueTask pending)
        {
            try { await pending.ConfigureAwait(false); }
            catch
            {
                Interlocked.Increment(ref counters.Errors);
                throw;
            }
        }
    }
}
