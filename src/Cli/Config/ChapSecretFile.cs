namespace IscsiUp.Cli.Config;

/// <summary>
/// CHAP secrets live in files, first line only, never on a command line (where `ps` shows them) and never in
/// output. Node records keep copies under /etc/iscsi-up/secrets/, mode 0600.
/// </summary>
public static class ChapSecretFile
{
    public static string SecretsDir => Path.Combine(Paths.ConfigDir, "secrets");

    public static byte[] Read(string path, TextWriter? warnings = null)
    {
        try
        {
            string line = File.ReadLines(path).FirstOrDefault()?.TrimEnd('\r') ?? "";
            if (line.Length == 0) throw new UserError($"CHAP secret file {path} is empty");
            if ((File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                warnings?.WriteLine($"iscsi-up: warning: CHAP secret file {path} is readable by other users (chmod 600 {path})");
            return System.Text.Encoding.UTF8.GetBytes(line);
        }
        catch (IOException e) { throw new UserError($"cannot read CHAP secret file {path}: {e.Message}"); }
        catch (UnauthorizedAccessException) { throw new UserError($"cannot read CHAP secret file {path}: permission denied"); }
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
