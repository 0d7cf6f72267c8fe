using IscsiUp.Nbd.Kernel;
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

    /// <summary>
    /// Every portal of the target with its group tag, as the last `discover` listed them (empty in a record written
    /// before discovery or before iscsi-up remembered them): recovery fails over to those of the session's portal group.
    /// </summary>
    public IReadOnlyList<IscsiUp.Initiator.Discovery.TargetPortal> Portals { get; init; } = [];

    /// <summary>Command timeout, abort and LU reset timeouts, replacement timeout (unset: the defaults).</summary>
    public SessionTimeouts Timeouts { get; init; } = SessionTimeouts.Default;

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
            .Append("node.portals=").AppendJoin(' ', Portals).Append('\n')
            .Append("node.session.auth.username=").Append(ChapUser ?? "").Append('\n')
            .Append("node.session.auth.password_file=").Append(ChapSecretFile ?? "").Append('\n')
            .Append("node.session.auth.username_in=").Append(ChapTargetUser ?? "").Append('\n')
            .Append("node.session.auth.password_in_file=").Append(ChapTargetSecretFile ?? "").Append('\n');
        foreach (var (key, value) in Timeouts.Entries)
            text.Append(key).Append('=').Append(value?.ToString(CultureInfo.InvariantCulture) ?? "").Append('\n');
        SafeFiles.AtomicFile.Write(FilePath, text.ToString());
    }

    /// <summary>Removes this node's file (its secret files are the caller's: see <see cref="WithChap"/>).</summary>
    public void Delete()
    {
        try { File.Delete(FilePath); } catch (IOException) { }
    }

    /// <summary>
    /// Reads one record; a record that is not a small regular file, lacks a key or holds a value the command line
    /// would refuse ends in a <see cref="UserError"/> naming the file and the value.
    /// </summary>
    public static NodeRecord Load(string path)
    {
        // Outside the try: SmallFile's errors name the file already; every error after it gets the prefix.
        string text = SmallFile.ReadText(path, "node record");
        try
        {
            var values = new Dictionary<string, string>();
            foreach (var line in text.Split('\n'))
                if (line.Split('=', 2) is [var key, var value]) values[key.Trim()] = value.Trim();
            string? Optional(string key) => values.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
            string Required(string key) => Optional(key) ?? throw new UserError($"no {key}");
            string target = InitiatorName.Validate(Required("node.target"), "node.target");
            string portal = Commands.CommonOptions.ParsePortal(Required("node.portal")).ToString();
            string startup = Optional("node.startup") ?? Manual;
            if (startup is not (Automatic or Manual)) throw new UserError($"invalid node.startup \"{startup}\": automatic or manual");
            return new NodeRecord(target, portal, InitiatorName.Validate(Required("node.initiator"), "node.initiator"),
                Commands.ArgumentCheck.Lun(Optional("node.lun"), "node.lun"), startup, Optional("node.mountpoint"), Optional("node.fstype"))
            {
                NbdDevice = Commands.ArgumentCheck.NbdDevice(Optional("node.nbd_device"), "node.nbd_device"),
                NbdUnix = Commands.ArgumentCheck.NbdUnix(Optional("node.nbd_unix"), "node.nbd_unix"),
                NbdTimeout = Optional("node.nbd_timeout") is { } timeout ? int.Parse(timeout, CultureInfo.InvariantCulture) : null,
                NbdDeadTimeout = Optional("node.nbd_dead_timeout") is { } dead ? int.Parse(dead, CultureInfo.InvariantCulture) : null,
                Portals = Optional("node.portals") is { } portals ? ParsePortals(portals) : [],
                ChapUser = Optional("node.session.auth.username"),
                ChapSecretFile = Optional("node.session.auth.password_file"),
                ChapTargetUser = Optional("node.session.auth.username_in"),
                ChapTargetSecretFile = Optional("node.session.auth.password_in_file"),
                Timeouts = SessionTimeouts.From(Optional),
            };
        }
        catch (UserError e)
        {
            throw new UserError($"node record {path}: {e.Message}");
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new UserError($"node record {path}: {e.Message}"); // a value parsed without ArgumentCheck: still one line, still skipped
        }
    }

    /// <summary>node.portals: HOST:PORT,TPGT entries separated by spaces.</summary>
    private static IscsiUp.Initiator.Discovery.TargetPortal[] ParsePortals(string text)
    {
        var portals = new List<IscsiUp.Initiator.Discovery.TargetPortal>();
        foreach (var entry in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            try { portals.Add(IscsiUp.Initiator.Discovery.TargetPortal.Parse(entry)); }
            catch (FormatException e) { throw new UserError($"invalid node.portals entry \"{entry}\": {e.Message}"); }
        }
        return [.. portals];
    }

    /// <summary>The record for this target and portal, or null when there is none (a broken one is an error).</summary>
    public static NodeRecord? Find(string target, string portal)
    {
        string path = Path.Combine(NodesDir, FileName(target, portal));
        return File.Exists(path) || Directory.Exists(path) ? Load(path) : null;
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

    /// <summary>
    /// Every readable record. A broken one is reported on <paramref name="problems"/> in one line and skipped: one
    /// corrupt file must not stop the other nodes from logging in at boot.
    /// </summary>
    public static IReadOnlyList<NodeRecord> LoadAll(TextWriter? problems)
    {
        if (!Directory.Exists(Paths.CheckTrusted(Paths.ConfigDir, NodesDir))) return [];
        var nodes = new List<NodeRecord>();
        foreach (var path in Directory.EnumerateFiles(NodesDir, "*.node").Order(StringComparer.Ordinal))
        {
            try { nodes.Add(Load(path)); }
            catch (UserError e) { problems?.WriteLine($"iscsi-up: {e.Message}; skipped"); }
        }
        return nodes.OrderBy(n => n.Target, StringComparer.Ordinal).ToArray();
    }
}
