namespace IscsiUp.SafeFiles;

/// <summary>
/// Replaces a file so that a crash or power cut leaves either the old or the new content, never an empty or
/// half-written file: write a temporary file in the same directory, fsync it, rename it over the target, fsync
/// the directory. The temporary file has a fresh random name and is created exclusively, and rename replaces a
/// symlink at the target rather than following it, so nothing planted in the directory is written through.
/// </summary>
public static class AtomicFile
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static void Write(string path, string content, UnixFileMode mode = OwnerOnly) =>
        Write(path, System.Text.Encoding.UTF8.GetBytes(content), mode);

    public static void Write(string path, ReadOnlySpan<byte> content, UnixFileMode mode = OwnerOnly)
    {
        string temp = TempPathFor(path);
        try
        {
            using (var stream = CreateTemp(temp, mode))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            Commit(temp, path);
        }
        finally
        {
            DeleteQuietly(temp);
        }
    }

    /// <param name="beforeReplace">Runs on the finished temporary file (its path) before it is made durable and
    /// replaces <paramref name="path"/>: set its metadata, check it; throw to abandon the replacement.</param>
    public static async Task WriteAsync(string path, ReadOnlyMemory<byte> content, UnixFileMode mode,
        Func<string, CancellationToken, Task>? beforeReplace, CancellationToken ct)
    {
        string temp = TempPathFor(path);
        try
        {
            await using (var stream = CreateTemp(temp, mode))
            {
                await stream.WriteAsync(content, ct).ConfigureAwait(false);
                await stream.FlushAsync(ct).ConfigureAwait(false);
                if (beforeReplace is not null)
                    await beforeReplace(temp, ct).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            Commit(temp, path);
        }
        finally
        {
            DeleteQuietly(temp);
        }
    }

    /// <summary>fsync(2) of a directory, which makes a rename or unlink in it durable. Best effort: false when
    /// the file system does not allow it.</summary>
    public static bool SyncDirectory(string directory)
    {
        int fd = Native.Open(directory, Native.ORdOnly | Native.ODirectory | Native.OCloExec, 0);
        if (fd < 0)
            return false;
        try
        {
            return Native.Fsync(fd) == 0;
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    private static FileStream CreateTemp(string temp, UnixFileMode mode)
    {
        // CreateNew is O_CREAT|O_EXCL: it fails on anything already there, symlinks included. Shared for reading:
        // the caller's check may read the temporary file while it is still open.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.Read };
        if (OperatingSystem.IsWindows())
            return new FileStream(temp, options);
        options.UnixCreateMode = mode;
        var stream = new FileStream(temp, options);
        // The umask may have narrowed the create mode; the caller's mode is what the file must end with.
        File.SetUnixFileMode(stream.SafeFileHandle, mode);
        return stream;
    }

    private static void Commit(string temp, string path)
    {
        File.Move(temp, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/");
    }

    private static string TempPathFor(string path) =>
        Path.Combine(Path.GetDirectoryName(path) is { Length: > 0 } dir ? dir : ".", $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
