using Microsoft.Win32.SafeHandles;

namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// A member disk backed by a file (a disk image). The file is created if missing and extended
/// to <see cref="Size"/> with <c>ftruncate</c>, so it starts sparse; existing contents are kept.
/// The file is opened exclusively so two arrays cannot share a member by mistake.
/// </summary>
public sealed class FileDisk : IMemberDisk
{
    private readonly SafeFileHandle _handle;

    public FileDisk(string path, long size)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        MemberDiskGuard.CheckSize(size);
        Path = path;
        Size = size;
        _handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        try
        {
            if (RandomAccess.GetLength(_handle) < size)
            {
                RandomAccess.SetLength(_handle, size);
            }
        }
        catch
        {
            _handle.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public long Size { get; }

    public void Read(long offset, Span<byte> dst)
    {
        MemberDiskGuard.CheckRange(offset, dst.Length, Size);
        while (!dst.IsEmpty)
        {
            int read = RandomAccess.Read(_handle, dst, offset);
            if (read == 0)
            {
                // Past the end of a file that someone truncated: reads as zeros, like a sparse hole.
                dst.Clear();
                return;
            }

            dst = dst[read..];
            offset += read;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> src)
    {
        MemberDiskGuard.CheckRange(offset, src.Length, Size);
        RandomAccess.Write(_handle, src, offset);
    }

    public void Flush() => RandomAccess.FlushToDisk(_handle);

    public void Dispose() => _handle.Dispose();
}
