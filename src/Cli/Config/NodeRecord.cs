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
            .ToString();
        string temp = FilePath + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, FilePath, overwrite: true);
    }

    public static NodeRecord? Load(string path)
    {
        try
        {
            var values = File.ReadAllLines(path).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0].Trim(), p => p[1].Trim());
            string? Optional(string key) => values.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
            return new NodeRecord(values["node.target"], values["node.portal"], values["node.initiator"],
                Optional("node.lun") is { } lun ? int.Parse(lun, CultureInfo.InvariantCulture) : null,
                Optional("node.startup") ?? Manual, Optional("node.mountpoint"), Optional("node.fstype"));
        }
        catch (Exception e) when (e is IOException or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }

    public static IReadOnlyList<NodeRecord> LoadAll() =>
        Directory.Exists(NodesDir)
            ? Directory.EnumerateFiles(NodesDir, "*.node").Select(Load).OfType<NodeRecord>().OrderBy(n => n.Target).ToArray()
            : [];
}
