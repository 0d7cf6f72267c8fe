using System.Runtime.InteropServices;

namespace IscsiUp.MountManager.Native;

/// <summary>The few POSIX calls .NET does not expose: file owner (statx/chown).</summary>
internal static unsafe partial class LibC
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxUid = 0x8;
    private const uint StatxGid = 0x10;

    /// <summary>Owner and group of <paramref name="path"/>, or null when they cannot be read.</summary>
    public static (uint Uid, uint Gid)? GetOwner(string path)
    {
        // struct statx has the same layout on every architecture: stx_uid at offset 20, stx_gid at 24.
        var buffer = stackalloc byte[256];
        try
        {
            if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxUid | StatxGid, buffer) != 0) return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
        return (*(uint*)(buffer + 20), *(uint*)(buffer + 24));
    }

    /// <summary>chown(2); returns the errno on failure, 0 on success.</summary>
    public static int ChangeOwner(string path, uint uid, uint gid) =>
        chown(path, uid, gid) == 0 ? 0 : Marshal.GetLastPInvokeError();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, uint owner, uint group);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
