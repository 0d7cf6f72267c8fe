using System.Buffers.Binary;
using System.Collections.Concurrent;
using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Storage;

/// <summary>Deterministic test data, temporary directories and instrumented member disks.</summary>
internal static class StorageTestData
{
    public const int Block = 512;

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Fills a 512-byte block with content that identifies the block, the writer and the write.</summary>
    public static void Stamp(Span<byte> block, long lba, int writer, int sequence)
    {
        BinaryPrimitives.WriteInt64LittleEndian(block, lba);
        BinaryPrimitives.WriteInt32LittleEndian(block[8..], writer);
        BinaryPrimitives.WriteInt32LittleEndian(block[12..], sequence);
        ulong state = (ulong)((lba * 1_000_003) ^ ((long)writer << 40) ^ ((long)sequence << 20)) | 1;
        for (int i = 16; i < Block; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            block[i] = (byte)state;
        }
    }

    /// <summary>True when the block is exactly what <see cref="Stamp"/> wrote for some writer and write of this lba.</summary>
    public static bool IsWholeStamp(ReadOnlySpan<byte> block, long lba)
    {
        if (BinaryPrimitives.ReadInt64LittleEndian(block) != lba)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[Block];
        Stamp(expected, lba, BinaryPrimitives.ReadInt32LittleEndian(block[8..]), BinaryPrimitives.ReadInt32LittleEndian(block[12..]));
        return block.SequenceEqual(expected);
    }

    public static async Task<byte[]> ReadAllAsync(IBlockStorage storage)
    {
        var data = new byte[storage.Capacity];
        await storage.ReadAsync(0, data);
        return data;
    }

    /// <summary>Waits (polling) until the condition holds, failing the test after 10 s.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>Runs the body on <paramref name="count"/> dedicated threads released together; rethrows their failures.</summary>
    public static void RunOnThreads(int count, Action<int> body)
    {
        using var barrier = new Barrier(count);
        var errors = new ConcurrentQueue<Exception>();
        Thread[] threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            try
            {
                barrier.SignalAndWait();
                body(i);
            }
            catch (Exception ex)
            {
                errors.Enqueue(ex);
            }
        })).ToArray();
        foreach (Thread thread in threads)
        {
            thread.Start();
        }

        foreach (Thread thread in threads)
        {
            Assert.True(thread.Join(TimeSpan.FromSeconds(60)), "a worker thread hung");
        }

        if (!errors.IsEmpty)
        {
            throw new AggregateException(errors);
        }
    }

    /// <summary>Synchronous write for worker threads (the array completes I/O synchronously anyway).</summary>
    public static void Write(IBlockStorage storage, long offset, byte[] data) =>
        storage.WriteAsync(offset, data).AsTask().GetAwaiter().GetResult();

    public static async Task WithinAsync(Task task, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(30))) != task)
        {
            Assert.Fail($"Timed out waiting for {what}.");
        }

        await task;
    }
}

internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("iscsi-up-storage-").FullName;
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}

/// <summary>
/// Wraps a member disk; while gated, writes from one thread (the first thread that writes while
/// the gate is closed, i.e. the rebuild worker) wait for permits, so a test can hold a rebuild at
/// a known stripe while it issues I/O of its own.
/// </summary>
internal sealed class GatedDisk(IMemberDisk inner) : IMemberDisk
{
    private readonly SemaphoreSlim _permits = new(0);
    private volatile bool _gated = true;
    private int _gatedThread;

    public long Size => inner.Size;

    public IMemberDisk Inner => inner;

    public void Release(int writes) => _permits.Release(writes);

    public void Open()
    {
        _gated = false;
        _permits.Release(1_000_000);
    }

    public void Read(long offset, Span<byte> dst) => inner.Read(offset, dst);

    public void Write(long offset, ReadOnlySpan<byte> src)
    {
        if (_gated)
        {
            int me = Environment.CurrentManagedThreadId;
            int gatedThread = Interlocked.CompareExchange(ref _gatedThread, me, 0);
            if ((gatedThread == 0 || gatedThread == me) && !_permits.Wait(TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException("Gated disk was never released.");
            }
        }

        inner.Write(offset, src);
    }

    public void Flush() => inner.Flush();

    public void Dispose()
    {
        inner.Dispose();
        _permits.Dispose();
    }
}

/// <summary>
/// Wraps a member disk and pauses briefly after every read, widening the window between a
/// read-modify-write's reads and its writes so that missing locking shows up as bad parity.
/// </summary>
internal sealed class JitterDisk(IMemberDisk inner) : IMemberDisk
{
    public long Size => inner.Size;

    public void Read(long offset, Span<byte> dst)
    {
        inner.Read(offset, dst);
        Thread.SpinWait(200);
        Thread.Yield();
    }

    public void Write(long offset, ReadOnlySpan<byte> src) => inner.Write(offset, src);

    public void Flush() => inner.Flush();

    public void Dispose() => inner.Dispose();
}
