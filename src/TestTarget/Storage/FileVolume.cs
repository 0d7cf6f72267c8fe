using Microsoft.Win32.SafeHandles;

namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// A plain (non-RAID) volume in one file that can grow (ftruncate, so it stays sparse). An existing file of at
/// least the capacity keeps its contents; the file is opened exclusively.
/// </summary>
public sealed class FileVolume : IResizableStorage
{
    private readonly SafeFileHandle _handle;
    private readonly Lock _lock = new();
    private long _capacity;

    public FileVolume(string path, long capacity)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        VolumeGuard.CheckCapacity(capacity);
        Path = path;
        _handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        try
        {
            if (RandomAccess.GetLength(_handle) < capacity) RandomAccess.SetLength(_handle, capacity);
        }
        catch
        {
            _handle.Dispose();
            throw;
        }
        _capacity = capacity;
    }

    public string Path { get; }

    public long Capacity => Volatile.Read(ref _capacity);

    public void Grow(long capacity)
    {
        lock (_lock)
        {
            VolumeGuard.CheckGrowth(_capacity, capacity);
            if (RandomAccess.GetLength(_handle) < capacity) RandomAccess.SetLength(_handle, capacity);
            Volatile.Write(ref _capacity, capacity);
        }
    }

    public ValueTask ReadAsync(long offset, Memory<byte> destination, CancellationToken ct = default)
    {
        VolumeGuard.CheckRange(offset, destination.Length, Capacity);
        Span<byte> dst = destination.Span;
        try
        {
            while (!dst.IsEmpty)
            {
                int read = RandomAccess.Read(_handle, dst, offset);
                if (read == 0)
                {
                    dst.Clear(); // past the end of a file someone truncated: reads as a hole
                    break;
                }
                dst = dst[read..];
                offset += read;
            }
        }
        catch (ObjectDisposedException)
        {
            throw Removed();
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> source, CancellationToken ct = default)
    {
        VolumeGuard.CheckRange(offset, source.Length, Capacity);
        try
        {
            RandomAccess.Write(_handle, source.Span, offset);
        }
        catch (ObjectDisposedException)
        {
            throw Removed();
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct = default)
    {
        try
        {
            RandomAccess.FlushToDisk(_handle);
        }
        catch (ObjectDisposedException)
        {
            throw Removed();
        }
        return ValueTask.CompletedTask;
    }

    public void Dispose() => _handle.Dispose();

    /// <summary>A command that raced the volume's removal fails like a storage error rather than a crash.</summary>
    private IOException Removed() => new($"the volume {Path} was closed");
}
