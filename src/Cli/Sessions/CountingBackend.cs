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
    public int BlockSize => inner.BlockSize;
    public long BlockCount => inner.BlockCount;
    public int PreferredBlockSize => inner.PreferredBlockSize;
    public int MaxTransferBlocks => inner.MaxTransferBlocks;
    public long MaxTrimBlocks => inner.MaxTrimBlocks;
    public long MaxZeroBlocks => inner.MaxZeroBlocks;
    public BlockCapabilities Capabilities => inner.Capabilities;

    public ValueTask ReadAsync(long lba, Memory<byte> destination, CancellationToken ct)
    {
        Interlocked.Increment(ref counters.Reads);
        Interlocked.Add(ref counters.ReadBytes, destination.Length);
        return Counted(inner.ReadAsync(lba, destination, ct));
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct)
    {
        Interlocked.Increment(ref counters.Writes);
        Interlocked.Add(ref counters.WriteBytes, source.Length);
        return Counted(inner.WriteAsync(lba, source, fua, ct));
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref counters.Flushes);
        return Counted(inner.FlushAsync(ct));
    }

    public ValueTask TrimAsync(long lba, long blocks, CancellationToken ct) => Counted(inner.TrimAsync(lba, blocks, ct));

    public ValueTask WriteZeroesAsync(long lba, long blocks, bool mayUnmap, CancellationToken ct) =>
        Counted(inner.WriteZeroesAsync(lba, blocks, mayUnmap, ct));

    /// <summary>Counts a failure; a request that completed at once costs no state machine.</summary>
    private ValueTask Counted(ValueTask operation)
    {
        if (operation.IsCompletedSuccessfully) return operation;
        return Await(operation);

        async ValueTask Await(ValueTask pending)
        {
            try { await pending.ConfigureAwait(false); }
            // A refusal the block mapping works around (WRITE SAME -> zero writes) is no failed request.
            catch (Exception e) when (e is not BlockBackendException { Error: BlockError.NotSupported })
            {
                Interlocked.Increment(ref counters.Errors);
                throw;
            }
        }
    }
}
