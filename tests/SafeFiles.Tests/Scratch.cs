namespace IscsiUp.SafeFiles.Tests;

/// <summary>A private scratch directory (root-owned, 0700) with a victim file outside the directory under test.</summary>
internal sealed class Scratch : IDisposable
{
    public Scratch()
    {
        Root = Directory.CreateTempSubdirectory("iscsi-up-safefiles-").FullName;
        Victim = Path.Combine(Root, "victim");
        File.WriteAllText(Victim, "precious\n");
    }

    public string Root { get; }
    public string Victim { get; }

    /// <summary>A directory inside the scratch area that belongs to nobody (uid 65534) with the given mode.</summary>
    public string ForeignDirectory(string name, UnixFileMode mode)
    {
        string path = Path.Combine(Root, name);
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, mode);
        ChangeOwner(path, "65534:65534");
        return path;
    }

    public static void ChangeOwner(string path, string owner)
    {
        using var chown = System.Diagnostics.Process.Start("chown", ["-h", owner, path])!;
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
