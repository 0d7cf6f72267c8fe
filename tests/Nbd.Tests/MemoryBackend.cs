using System.Collections.Concurrent;
using IscsiUp.Nbd;

namespace IscsiUp.Nbd.Tests;

/// <summary>
/// Sparse in-memory <see cref="IBlockBackend"/> for tests: 64 KiB chunks allocated on first write, so a
/// multi-GiB capacity costs only what is written. Counts calls, records the largest request of each kind (in
/// bytes) and the peak concurrency, checks the contract (whole blocks, the transfer/trim/zero limits, bounds)
/// and records violations, and can inject errors or delays. Tests speak bytes: the callbacks and the recorded
/// lengths are block addresses and counts times the block size.
/// </summary>
public sealed class MemoryBackend : IBlockBackend
{
    public const int ChunkSize = 64 * 1024;

    private readonly ConcurrentDictionary<long, byte[]> _chunks = new();
    private readonly ConcurrentQueue<string> _violations = new();
    private int _concurrent;
    private int _peakConcurrent;
    private long _maxRead, _maxWrite, _maxTrim, _maxZeroes;

    public MemoryBackend(long capacity = 64L * 1024 * 1024, int blockSize = 512, int maxTransferLength = 64 * 1024)
    {
        Capacity = capacity;
        BlockSize = blockSize;
        MaxTransferLength = maxTransferLength;
        PreferredBlockSize = 4096;
    }

    /// <summary>Capacity in bytes (whole blocks of it are served).</summary>
    public long Capacity { get; }
    public int BlockSize { get; }
    public long BlockCount => Capacity / BlockSize;
    public int PreferredBlockSize { get; init; }
    /// <summary>Transfer limit in bytes; the backend advertises the whole blocks in it.</summary>
    public int MaxTransferLength { get; }
    public int MaxTransferBlocks => MaxTransferLength / BlockSize;
    public long MaxTrimBlocks { get; init; } = long.MaxValue;
    public long MaxZeroBlocks { get; init; } = long.MaxValue;
    public bool IsReadOnly { get; init; }
    public bool SupportsFua { get; init; } = true;
    public bool SupportsFlush { get; init; } = true;
    public bool SupportsTrim { get; init; } = true;
    public bool SupportsWriteZeroes { get; init; } = true;
    public bool SupportsMultiConnection { get; init; } = true;
    /// <summary>Claims native write zeroes but refuses every call as not supported (a target without WRITE SAME).</summary>
    public bool RefuseWriteZeroes { get; init; }

    public BlockCapabilities Capabilities =>
        (IsReadOnly ? BlockCapabilities.ReadOnly : 0) | (SupportsFua ? BlockCapabilities.Fua : 0) |
        (SupportsFlush ? BlockCapabilities.Flush : 0) | (SupportsTrim ? BlockCapabilities.Trim : 0) |
        (SupportsWriteZeroes ? BlockCapabilities.WriteZeroes : 0) | (SupportsMultiConnection ? BlockCapabilities.MultiConnection : 0);

    /// <summary>Called before every operation with (operation, offset, length); a returned exception is thrown.</summary>
    public Func<string, long, long, Exception?>? InjectError { get; set; }

    /// <summary>Awaited (if set) before every read and write: lets tests hold requests in flight.</summary>
    public Func<string, long, CancellationToken, Task>? Delay { get; set; }

    public long Reads, Writes, Flushes, Trims, ZeroWrites, RefusedZeroWrites, FuaWrites, Unmaps, Cancelled;

    public int PeakConcurrency => Volatile.Read(ref _peakConcurrent);
    public long MaxReadLength => Interlocked.Read(ref _maxRead);
    public long MaxWriteLength => Interlocked.Read(ref _maxWrite);
    public long MaxTrimLength => Interlocked.Read(ref _maxTrim);
    public long MaxZeroesLength => Interlocked.Read(ref _maxZeroes);
    public IReadOnlyCollection<string> Violations => _violations;
    public int AllocatedChunks => _chunks.Count;

    public async ValueTask ReadAsync(long lba, Memory<byte> destination, CancellationToken ct)
    {
        long offset = lba * BlockSize;
        Enter("read", offset, destination.Length, true);
        try
        {
            Interlocked.Increment(ref Reads);
            UpdateMax(ref _maxRead, destination.Length);
            await DelayAsync("read", offset, ct);
            Copy(offset, destination.Span);
        }
        finally
        {
            Exit();
        }
    }

    public async ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> source, bool fua, CancellationToken ct)
    {
        long offset = lba * BlockSize;
        Enter("write", offset, source.Length, true);
        try
        {
            Interlocked.Increment(ref Writes);
            if (fua && !SupportsFua)
                _violations.Enqueue("FUA write although SupportsFua is false");
            if (fua)
                Interlocked.Increment(ref FuaWrites);
            UpdateMax(ref _maxWrite, source.Length);
            await DelayAsync("write", offset, ct);
            Store(offset, source.Span);
        }
        finally
        {
            Exit();
        }
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        Enter("flush", 0, 0, false);
        try
        {
            Interlocked.Increment(ref Flushes);
            return ValueTask.CompletedTask;
        }
        finally
        {
            Exit();
        }
    }

    public ValueTask TrimAsync(long lba, long blocks, CancellationToken ct)
    {
        long offset = lba * BlockSize, length = blocks * BlockSize;
        Enter("trim", offset, length, true);
        try
        {
            if (!SupportsTrim)
                _violations.Enqueue("TrimAsync called although SupportsTrim is false");
            if (blocks > MaxTrimBlocks)
                _violations.Enqueue($"trim of {blocks} blocks beyond MaxTrimBlocks {MaxTrimBlocks}");
            Interlocked.Increment(ref Trims);
            UpdateMax(ref _maxTrim, length);
            Zero(offset, length);
            return ValueTask.CompletedTask;
        }
        finally
        {
            Exit();
        }
    }

    public ValueTask WriteZeroesAsync(long lba, long blocks, bool mayUnmap, CancellationToken ct)
    {
        long offset = lba * BlockSize, length = blocks * BlockSize;
        Enter("zero", offset, length, true);
        try
        {
            if (!SupportsWriteZeroes)
                _violations.Enqueue("WriteZeroesAsync called although SupportsWriteZeroes is false");
            if (blocks > MaxZeroBlocks)
                _violations.Enqueue($"write zeroes of {blocks} blocks beyond MaxZeroBlocks {MaxZeroBlocks}");
            if (RefuseWriteZeroes)
            {
                Interlocked.Increment(ref RefusedZeroWrites);
                throw new BlockBackendException("WRITE SAME is not supported", BlockError.NotSupported);
            }
            Interlocked.Increment(ref ZeroWrites);
            if (mayUnmap)
                Interlocked.Increment(ref Unmaps);
            UpdateMax(ref _maxZeroes, length);
            Zero(offset, length);
            return ValueTask.CompletedTask;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Reads the stored bytes directly (for assertions).</summary>
    public byte[] Peek(long offset, int length)
    {
        var b = new byte[length];
        Copy(offset, b);
        return b;
    }

    /// <summary>Stores bytes directly (test setup).</summary>
    public void Poke(long offset, ReadOnlySpan<byte> data) => Store(offset, data);

    private void Enter(string op, long offset, long length, bool ranged)
    {
        int now = Interlocked.Increment(ref _concurrent);
        int peak;
        while (now > (peak = Volatile.Read(ref _peakConcurrent)) && Interlocked.CompareExchange(ref _peakConcurrent, now, peak) != peak)
        {
        }
        if (ranged)
        {
            if (offset % BlockSize != 0 || length % BlockSize != 0)
                _violations.Enqueue($"{op} {offset}+{length} not aligned to {BlockSize}");
            if (length > MaxTransferLength)
                _violations.Enqueue($"{op} {offset}+{length} longer than MaxTransferLength {MaxTransferLength}");
            if (offset < 0 || length < 0 || offset + length > Capacity)
                _violations.Enqueue($"{op} {offset}+{length} outside capacity {Capacity}");
            if (length == 0)
                _violations.Enqueue($"{op} of zero length at {offset}");
            if (IsReadOnly && op != "read")
                _violations.Enqueue($"{op} on a read-only backend");
        }
        if (InjectError?.Invoke(op, offset, length) is { } e)
        {
            Interlocked.Decrement(ref _concurrent);
            throw e;
        }
    }

    private void Exit() => Interlocked.Decrement(ref _concurrent);

    private async Task DelayAsync(string op, long offset, CancellationToken ct)
    {
        if (Delay is { } d)
        {
            try
            {
                await d(op, offset, ct);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref Cancelled);
                throw;
            }
        }
    }

    private static void UpdateMax(ref long field, long value)
    {
        long cur;
        while (value > (cur = Interlocked.Read(ref field)) && Interlocked.CompareExchange(ref field, value, cur) != cur)
        {
        }
    }

    private void Copy(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            long chunk = offset / ChunkSize;
            int inChunk = (int)(offset % ChunkSize);
            int n = Math.Min(destination.Length, ChunkSize - inChunk);
            if (_chunks.TryGetValue(chunk, out var data))
                data.AsSpan(inChunk, n).CopyTo(destination);
            else
                destination[..n].Clear();
            destination = destination[n..];
            offset += n;
        }
    }

    private void Store(long offset, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            long chunk = offset / ChunkSize;
            int inChunk = (int)(offset % ChunkSize);
            int n = Math.Min(source.Length, ChunkSize - inChunk);
            var piece = source[..n];
            if (_chunks.TryGetValue(chunk, out var data))
                piece.CopyTo(data.AsSpan(inChunk));
            else if (piece.ContainsAnyExcept((byte)0))
                piece.CopyTo(_chunks.GetOrAdd(chunk, _ => new byte[ChunkSize]).AsSpan(inChunk));
            source = source[n..];
            offset += n;
        }
    }

    private void Zero(long offset, long length)
    {
        while (length > 0)
        {
            long chunk = offset / ChunkSize;
            int inChunk = (int)(offset % ChunkSize);
            int n = (int)Math.Min(length, ChunkSize - inChunk);
            if (inChunk == 0 && n == ChunkSize)
                _chunks.TryRemove(chunk, out _);
            else if (_chunks.TryGetValue(chunk, out var data))
                data.AsSpan(inChunk, n).Clear();
            length -= n;
            offset += n;
        }
    }
}
