using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace IscsiUp.SafeFiles;

/// <summary>
/// Opens a file that is written in place (a log appended to, a lock file) without following a symlink at its
/// path (O_NOFOLLOW): a link planted there is refused instead of redirecting root's writes to its target.
/// </summary>
public static class NoFollowFile
{
    /// <summary>Opens <paramref name="path"/> for appending, creating it with <paramref name="mode"/>.</summary>
    public static FileStream OpenAppend(string path, UnixFileMode mode = AtomicFile.OwnerOnly) =>
        Open(path, Native.OWrOnly | Native.OAppend | Native.OCreat, mode, FileAccess.Write);

    /// <summary>Opens or creates the lock file <paramref name="path"/> and takes an exclusive flock on it (the
    /// lock .NET takes for FileShare.None); null when another process holds it.</summary>
    public static FileStream? TryOpenLocked(string path, UnixFileMode mode = AtomicFile.OwnerOnly)
    {
        var file = Open(path, Native.ORdWr | Native.OCreat, mode, FileAccess.ReadWrite);
        if (Native.Flock((int)file.SafeFileHandle.DangerousGetHandle(), Native.LockExclusive | Native.LockNonBlocking) == 0)
            return file;
        file.Dispose();
        return null;
    }

    private static FileStream Open(string path, int flags, UnixFileMode mode, FileAccess access)
    {
        int fd = Native.Open(path, flags | Native.ONoFollow | Native.OCloExec, (uint)mode);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException(errno == Native.ELoop
                ? $"refusing to open {path}: it is a symbolic link"
                : $"cannot open {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), access, bufferSize: 0);
    }
}
