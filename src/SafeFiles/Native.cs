using System.Runtime.InteropServices;

namespace IscsiUp.SafeFiles;

/// <summary>The POSIX calls .NET does not expose: open with O_NOFOLLOW, fsync of a directory, lstat-like owner and mode.</summary>
internal static unsafe partial class Native
{
    public const int ORdOnly = 0;
    public const int OWrOnly = 1;
    public const int ORdWr = 2;
    public const int OCreat = 0x40;
    public const int OAppend = 0x400;
    public const int ODirectory = 0x10000;
    public const int ONoFollow = 0x20000;
    public const int OCloExec = 0x80000;
    public const int ELoop = 40;
    public const int LockExclusive = 2, LockNonBlocking = 4;

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8;

    /// <summary>Type and permission bits and owner of <paramref name="path"/> itself (a symlink is not followed),
    /// or null with the errno when it cannot be read.</summary>
    public static (uint Mode, uint Uid)? Lstat(string path, out int errno)
    {
        // struct statx is the same on every architecture: stx_uid at offset 20, stx_mode (u16) at 28.
        var buffer = stackalloc byte[256];
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType | StatxMode | StatxUid, buffer) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        errno = 0;
        return (*(ushort*)(buffer + 28), *(uint*)(buffer + 20));
    }

    public static uint EffectiveUid => geteuid();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
