using System.Security.Cryptography;

namespace IscsiUp.MountManager.Tests.Support;

public static class Sha
{
    /// <summary>SHA-256 of the first MiB of a file, where filesystems keep their superblocks.</summary>
    public static string FirstMiB(string path)
    {
        using var stream = File.OpenRead(path);
        var buffer = new byte[1024 * 1024];
        var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return Convert.ToHexString(SHA256.HashData(buffer.AsSpan(0, read)));
    }
}
