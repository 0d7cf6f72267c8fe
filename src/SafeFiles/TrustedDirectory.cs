namespace IscsiUp.SafeFiles;

/// <summary>
/// A directory whose content a privileged process may trust: a real directory (not a symlink), owned by root
/// or by the user running us, and writable by nobody else. Anyone else who could write there could plant
/// symlinks or files that redirect or forge our state.
/// </summary>
public static class TrustedDirectory
{
    private const uint TypeMask = 0xF000, TypeDirectory = 0x4000;
    private const uint GroupOrOtherWrite = 0x12; // S_IWGRP | S_IWOTH

    /// <summary>Creates <paramref name="path"/> (mode 0700) if it is missing, then checks it.</summary>
    /// <exception cref="UntrustedDirectoryException">The directory exists but cannot be trusted.</exception>
    public static string Ensure(string path)
    {
        if (Native.Lstat(path, out _) is null && !OperatingSystem.IsWindows())
        {
            try
            {
                Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (IOException)
            {
                // Someone else made it meanwhile: the check below decides.
            }
        }
        Check(path);
        return path;
    }

    /// <summary>Throws when <paramref name="path"/> exists and cannot be trusted; a missing directory passes.</summary>
    public static void Check(string path)
    {
        if (Native.Lstat(path, out int errno) is not { } status)
        {
            if (errno == 2) // ENOENT
                return;
            throw new UntrustedDirectoryException(path, $"cannot be examined (errno {errno})");
        }
        var (mode, uid) = status;
        uint self = Native.EffectiveUid;
        if ((mode & TypeMask) != TypeDirectory)
            throw new UntrustedDirectoryException(path, "is not a directory (a symbolic link or another file is there)");
        if (uid != 0 && uid != self)
            throw new UntrustedDirectoryException(path, $"is owned by uid {uid}, not by {(self == 0 ? "root" : $"root or uid {self}")}");
        if ((mode & GroupOrOtherWrite) != 0)
            throw new UntrustedDirectoryException(path, $"is writable by other users (mode {Convert.ToString(mode & 0xFFF, 8)})");
    }
}

/// <summary>A state or configuration directory that others could tamper with.</summary>
public sealed class UntrustedDirectoryException(string path, string problem)
    : IOException($"refusing to use {path}: it {problem}; it must be a directory owned by root (or by the user running iscsi-up) and writable by no one else")
{
    public string DirectoryPath { get; } = path;
}
