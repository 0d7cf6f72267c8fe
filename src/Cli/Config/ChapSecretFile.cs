namespace IscsiUp.Cli.Config;

/// <summary>
/// CHAP secrets live in files, first line only, never on a command line (where `ps` shows them) and never in
/// output. Node records keep copies under /etc/iscsi-up/secrets/, mode 0600.
/// </summary>
public static class ChapSecretFile
{
    public static string SecretsDir => Path.Combine(Paths.ConfigDir, "secrets");

    /// <summary>A CHAP secret is at most 255 bytes in practice (RFC 7143 wants 12-16 or more); 4 KiB leaves room for comments or CRLF.</summary>
    public const int SizeLimit = 4096;

    public static byte[] Read(string path, TextWriter? warnings = null)
    {
        string text = SmallFile.ReadText(path, "CHAP secret file", SizeLimit);
        string line = text.Split('\n')[0].TrimEnd('\r');
        if (line.Length == 0) throw new UserError($"CHAP secret file {path} is empty (the secret is its first line)");
        try
        {
            if ((File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                warnings?.WriteLine($"iscsi-up: warning: CHAP secret file {path} is readable by other users (chmod 600 {path})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* read it already; the warning is a courtesy */ }
        return System.Text.Encoding.UTF8.GetBytes(line);
    }

    /// <summary>Stores a secret for a node as SecretsDir/NAME (0600, written atomically) and returns its path.</summary>
    public static string Store(string name, byte[] secret)
    {
        Paths.EnsurePrivateDirectory(Paths.ConfigDir);
        Paths.EnsurePrivateDirectory(SecretsDir);
        string path = Path.Combine(SecretsDir, name);
        SafeFiles.AtomicFile.Write(path, [.. secret, (byte)'\n'], SafeFiles.AtomicFile.OwnerOnly);
        return path;
    }

    public static void Delete(string? path)
    {
        if (path is null || Path.GetDirectoryName(path) != SecretsDir) return; // only our own copies
        try { File.Delete(path); } catch (IOException) { }
    }
}
