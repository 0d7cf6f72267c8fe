using System.Buffers.Binary;
using System.Collections.Concurrent;
using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Faults;

/// <summary>
/// What the array must hold: for every 512-byte block, the values a read may legally return. A block owned by one
/// writer has exactly one value once its write was acknowledged; a write that failed leaves each of its blocks
/// either old or new (stripes are updated one at a time), so both stay possible until the next acknowledged write.
/// </summary>
internal sealed class BlockModel(long blocks)
{
    public const int Block = 512;
    private readonly byte[]?[][] _possible = Enumerable.Range(0, (int)blocks).Select(_ => new byte[]?[] { null }).ToArray(); // null = never written (zeros)

    public long Blocks => blocks;

    public void Acknowledged(long lba, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length / Block; i++)
            Volatile.Write(ref _possible[lba + i], [data.Slice(i * Block, Block).ToArray()]);
    }

    public void Failed(long lba, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length / Block; i++)
            Volatile.Write(ref _possible[lba + i], [.. Volatile.Read(ref _possible[lba + i]), data.Slice(i * Block, Block).ToArray()]);
    }

    /// <summary>Null when every block of <paramref name="data"/> (read at <paramref name="lba"/>) is a value the model allows.</summary>
    public string? Mismatch(long lba, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length / Block; i++)
        {
            var got = data.Slice(i * Block, Block);
            bool ok = false;
            foreach (var candidate in Volatile.Read(ref _possible[lba + i]))
                ok |= candidate is null ? !got.ContainsAnyExcept((byte)0) : got.SequenceEqual(candidate);
            if (!ok)
                return $"block {lba + i} holds {Describe(got)}, expected one of [{string.Join(", ", Volatile.Read(ref _possible[lba + i]).Select(c => c is null ? "zeros" : Describe(c)))}]";
        }
        return null;
    }

    private static string Describe(ReadOnlySpan<byte> block) =>
        !block.ContainsAnyExcept((byte)0) ? "zeros"
        : $"lba {BinaryPrimitives.ReadInt64LittleEndian(block)} writer {BinaryPrimitives.ReadInt32LittleEndian(block[8..])} write {BinaryPrimitives.ReadInt32LittleEndian(block[12..])}";

    /// <summary>A block that says which block, writer and write it is, with seeded filler.</summary>
    public static void Stamp(Span<byte> block, long lba, int writer, int sequence)
    {
        BinaryPrimitives.WriteInt64LittleEndian(block, lba);
        BinaryPrimitives.WriteInt32LittleEndian(block[8..], writer);
        BinaryPrimitives.WriteInt32LittleEndian(block[12..], sequence);
        new Random(unchecked((int)(lba * 1_000_003) ^ (writer * 7919) ^ (sequence * 31))).NextBytes(block[16..Block]);
    }

    public static byte[] Stamped(long lba, int blocks, int writer, int sequence)
    {
        var data = new byte[blocks * Block];
        for (int i = 0; i < blocks; i++) Stamp(data.AsSpan(i * Block, Block), lba + i, writer, sequence);
        return data;
    }
}

/// <summary>
/// Blocks are dealt to writers in runs of <see cref="RunBlocks"/>, round robin, so every stripe is shared by
/// several writers while each block has exactly one.
/// </summary>
internal sealed class Ownership(long blocks, int writers, int runBlocks)
{
    public int RunBlocks => runBlocks;

    public long[] RunsOf(int writer) =>
        Enumerable.Range(0, (int)(blocks / runBlocks)).Where(run => run % writers == writer).Select(run => (long)run * runBlocks).ToArray();
}

/// <summary>A member disk that slows reads a little (wider windows between a stripe's reads and writes) and can
/// hold one write at a chosen offset until released (to freeze a rebuild at a known stripe).</summary>
internal sealed class FaultDisk(IMemberDisk inner, bool jitter = true) : IMemberDisk
{
    private long _holdAt = -1;
    private readonly ManualResetEventSlim _release = new(false);

    public long Size => inner.Size;

    /// <summary>Completes when a write reached the hold offset and is waiting.</summary>
    public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void HoldWriteAt(long offset) => Interlocked.Exchange(ref _holdAt, offset);

    public void Release() => _release.Set();

    public void Read(long offset, Span<byte> dst)
    {
        inner.Read(offset, dst);
        if (jitter) Thread.SpinWait(50);
    }

    public void Write(long offset, ReadOnlySpan<byte> src)
    {
        if (offset == Interlocked.Read(ref _holdAt) && Interlocked.CompareExchange(ref _holdAt, -1, offset) == offset)
        {
            Held.TrySetResult();
            if (!_release.Wait(TimeSpan.FromSeconds(30))) throw new TimeoutException("held write was never released");
        }
        inner.Write(offset, src);
    }

    public void Flush() => inner.Flush();

    public void Dispose()
    {
        _release.Set();
        inner.Dispose();
    }
}

internal static class Threads
{
    /// <summary>Runs <paramref name="body"/> on <paramref name="count"/> threads released together; collects failures.</summary>
    public static void Run(int count, Action<int> body, TimeSpan limit)
    {
        using var start = new Barrier(count);
        var errors = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                body(i);
            }
            catch (Exception e)
            {
                errors.Enqueue(e);
            }
        }) { IsBackground = true }).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(limit), "a worker thread hung");
        if (!errors.IsEmpty) throw new AggregateException(errors);
    }
}
