using IscsiUp.Initiator.Nbd.Kernel;
using System.Globalization;
using System.Text;

namespace IscsiUp.Cli.Config;

/// <summary>
/// A remembered target (like open-iscsi's node database): what to log in to and whether to do it at boot
/// (node.startup automatic). One key=value file per node under /etc/iscsi-up/nodes/. CHAP secrets are never
/// stored here, only the path of a 0600 secret file.
/// </summary>
public sealed record NodeRecord(string Target, string Portal, string Initiator, int? Lun, string Startup, string? MountPoint, string? FsType)
{
    /// <summary>CHAP user name for this node, if the target wants CHAP.</summary>
    public string? ChapUser { get; init; }
    /// <summary>The 0600 file with the CHAP secret (under /etc/iscsi-up/secrets).</summary>
    public string? ChapSecretFile { get; init; }
    /// <summary>Mutual CHAP: the name the target must answer with, and the file with its secret.</summary>
    public string? ChapTargetUser { get; init; }
    public string? ChapTargetSecretFile { get; init; }

    /// <summary>How the LUN is exposed after login: a kernel device (auto, the default, or /dev/nbdN; none: hold only)...</summary>
    public string? NbdDevice { get; init; }
    /// <summary>...or an NBD unix socket for userspace clients (a virtual machine's disk, say).</summary>
    public string? NbdUnix { get; init; }

    /// <summary>Kernel device: seconds before an unanswered request is sent again on a new socket (node.nbd_timeout).</summary>
    public int? NbdTimeout { get; init; }
    /// <summary>Kernel device: seconds I/O waits for a new daemon after the old one is gone (node.nbd_dead_timeout).</summary>
    public int? NbdDeadTimeout { get; init; }

    public KernelNbdTimeouts NbdTimeouts =>
        new(NbdTimeout ?? KernelNbdTimeouts.DefaultRequestSeconds, NbdDeadTimeout ?? KernelNbdTimeouts.DefaultDeadConnectionSeconds);

    public Sessions.ExportRequest Export =>
        (NbdUnix is not null ? new Sessions.ExportRequest(null, NbdUnix, null) : new Sessions.ExportRequest(null, null, NbdDevice is "none" ? null : NbdDevice ?? "auto"))
            with { NbdTimeouts = NbdTimeouts };

    public const string Automatic = "automatic";
    public const string Manual = "manual";

    public static string NodesDir => Path.Combine(Paths.ConfigDir, "nodes");

    public string FilePath => Path.Combine(NodesDir, FileName(Target, Portal));

    public static string FileName(string target, string portal)
    {
        var name = new StringBuilder();
        foreach (char c in $"{target}@{portal}") name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '@' or ':' ? c : '_');
        return name.Append(".node").ToString();
    }

    public void Save()
    {
        Paths.EnsurePrivateDirectory(Paths.ConfigDir);
        Paths.EnsurePrivateDirectory(NodesDir);
        var text = new StringBuilder()
            .Append("node.target=").Append(Target).Append('\n')
            .Append("node.portal=").Append(Portal).Append('\n')
            .Append("node.initiator=").Append(Initiator).Append('\n')
            .Append("node.lun=").Append(Lun?.ToString(CultureInfo.InvariantCulture) ?? "").Append('\n')
            .Append("node.startup=").Append(Startup).Append('\n')
            .Append("node.mountpoint=").Append(MountPoint ?? "").Append('\n')
            .Append("node.fstype=").Append(FsType ?? "").Append('\n')
            .Append("node.nbd_device=").Append(NbdDevice ?? "").Append('\n')
            .Append("node.nbd_unix=").Append(NbdUnix ?? "").Append('\n')
            .Append("node.nbd_timeout=").Append(NbdTimeout?.ToString(CultureInfo.InvariantCulture) ?? "").Append('\n')
            .Append("node.nbd_dead_timeout=").Append(NbdDeadTimeout?.ToString(CultureInfo.InvariantCulture) ?? "").Append('\n')
            .Append("node.session.auth.username=").Append(ChapUser ?? "").Append('\n')
            .Append("node.session.auth.password_file=").Append(ChapSecretFile ?? "").Append('\n')
            .Append("node.session.auth.username_in=").Append(ChapTargetUser ?? "").Append('\n')
            .Append("node.session.auth.password_in_file=").Append(ChapTargetSecretFile ?? "").Append('\n')
            .ToString();
        string temp = FilePath + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, FilePath, overwrite: true);
    }

    /// <summary>Removes this node's file (its secret files are the caller's: see <see cref="WithChap"/>).</summary>
    public void Delete()
    {
        try { File.Delete(FilePath); } catch (IOException) { }
    }

    public static NodeRecord? Load(string path)
    {
        try
        {
            var values = File.ReadAllLines(path).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0].Trim(), p => p[1].Trim());
            string? Optional(string key) => values.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
            return new NodeRecord(values["node.target"], values["node.portal"], values["node.initiator"],
                Optional("node.lun") is { } lun ? int.Parse(lun, CultureInfo.InvariantCulture) : null,
                Optional("node.startup") ?? Manual, Optional("node.mountpoint"), Optional("node.fstype"))
            {
                NbdDevice = Optional("node.nbd_device"),
                NbdUnix = Optional("node.nbd_unix"),
                NbdTimeout = Optional("node.nbd_timeout") is { } timeout ? int.Parse(timeout, CultureInfo.InvariantCulture) : null,
                NbdDeadTimeout = Optional("node.nbd_dead_timeout") is { } dead ? int.Parse(dead, CultureInfo.InvariantCulture) : null,
                ChapUser = Optional("node.session.auth.username"),
                ChapSecretFile = Optional("node.session.auth.password_file"),
                ChapTargetUser = Optional("node.session.auth.username_in"),
                ChapTargetSecretFile = Optional("node.session.auth.password_in_file"),
            };
        }
        catch (Exception e) when (e is IOException or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// This node with the given CHAP credentials (null: none), their secrets copied to 0600 files of its own;
    /// files it no longer needs are removed.
    /// </summary>
    public NodeRecord WithChap(Initiator.Login.ChapCredentials? chap)
    {
        string stem = Path.GetFileNameWithoutExtension(FileName(Target, Portal));
        var updated = this with
        {
            ChapUser = chap?.User,
            ChapSecretFile = chap is null ? null : Config.ChapSecretFile.Store(stem + ".chap", chap.Secret),
            ChapTargetUser = chap?.TargetUser,
            ChapTargetSecretFile = chap?.TargetSecret is { } mutual ? Config.ChapSecretFile.Store(stem + ".chap_in", mutual) : null,
        };
        if (updated.ChapSecretFile != ChapSecretFile) Config.ChapSecretFile.Delete(ChapSecretFile);
        if (updated.ChapTargetSecretFile != ChapTargetSecretFile) Config.ChapSecretFile.Delete(ChapTargetSecretFile);
        return updated;
    }

    /// <summary>The CHAP credentials to log in with, read from the secret files; null when the node has none.</summary>
    public Initiator.Login.ChapCredentials? ReadChap()
    {
        if (ChapUser is null || ChapSecretFile is null) return null;
        return new Initiator.Login.ChapCredentials(ChapUser, Config.ChapSecretFile.Read(ChapSecretFile),
            ChapTargetUser, ChapTargetSecretFile is null ? null : Config.ChapSecretFile.Read(ChapTargetSecretFile));
    }

    public static IReadOnlyList<NodeRecord> LoadAll() =>
        Directory.Exists(NodesDir)
            ? Directory.EnumerateFiles(NodesDir, "*.node").Select(Load).OfType<NodeRecord>().OrderBy(n => n.Target).ToArray()
            : [];
}
