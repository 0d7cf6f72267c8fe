using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace IscsiUp.Cli.Config;

/// <summary>
/// Reads the small files an administrator points us at (CHAP secrets, node records, the configuration file):
/// only regular files, only up to a size limit. A FIFO would otherwise block the read forever and /dev/zero
/// would grow it without end; both now end in one line naming the file.
/// </summary>
public static class SmallFile
{
    /// <summary>More than enough for any of our files (a node record is a few hundred bytes).</summary>
    public const int DefaultLimit = 64 * 1024;

    /// <summary>The file's text; a <see cref="UserError"/> saying what is wrong when it is missing, not a regular file or too large.</summary>
    public static unsafe string ReadText(string path, string what, int limit = DefaultLimit)
    {
        // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting for one.
        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* p = name) fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
        {
            int error = errno;
            throw new UserError(error == ENOENT ? $"{what} {path} does not exist"
                : error == EACCES || error == EPERM ? $"cannot read {what} {path}: permission denied"
                : $"cannot read {what} {path}: {Marshal.GetPInvokeErrorMessage(error)}");
        }
        try
        {
            stat info;
            if (fstat(fd, &info) != 0) throw new UserError($"cannot read {what} {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
            uint type = (uint)info.st_mode & (uint)S_IFMT;
            if (type != (uint)S_IFREG) throw new UserError($"{what} {path} is not a regular file ({Kind(type)})");
            if (info.st_size > limit) throw new UserError($"{what} {path} is too large ({info.st_size} bytes; at most {limit})");
            // The size said at most `limit`; a file that grows meanwhile is cut off there, not followed.
            var buffer = new byte[limit + 1];
            int length = 0;
            while (length < buffer.Length)
            {
                ssize_t read;
                fixed (byte* p = &buffer[length]) read = LibC.read(fd, p, buffer.Length - length);
                if (read < 0)
                {
                    if (errno == EINTR) continue;
                    throw new UserError($"cannot read {what} {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
                }
                if (read == 0) break;
                length += (int)read;
            }
            if (length > limit) throw new UserError($"{what} {path} is too large (more than {limit} bytes)");
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally { close(fd); }
    }

    public const string Socket = "a socket";

    /// <summary>What is at <paramref name="path"/> (not following a last symlink), or null when nothing is.</summary>
    public static unsafe string? KindOf(string path)
    {
        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        stat info;
        int result;
        fixed (byte* p = name) result = lstat(p, &info);
        return result != 0 ? null : Kind((uint)info.st_mode & (uint)S_IFMT);
    }

    private static string Kind(uint type) =>
        type == (uint)S_IFREG ? "a regular file"
        : type == (uint)S_IFDIR ? "a directory"
        : type == (uint)S_IFIFO ? "a FIFO"
        : type == (uint)S_IFCHR ? "a character device"
        : type == (uint)S_IFBLK ? "a block device"
        : type == (uint)S_IFSOCK ? Socket
        : type == (uint)S_IFLNK ? "a symbolic link"
        : "not a plain file";
}
