using System.CommandLine;
using System.Globalization;
using IscsiUp.Cli.Config;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up node`: the remembered targets (like `iscsiadm -m node`). Lists them; with -T (and -p) creates or
/// changes one: startup automatic|manual, LUN, CHAP credentials (secrets copied to 0600 files, never shown), or
/// deletes it.
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var target = CommonOptions.Target(required: false);
        var portal = CommonOptions.Portal(required: false);
        var initiator = CommonOptions.InitiatorName();
        var startup = new Option<string?>("--startup") { Description = "automatic (log in at boot) or manual" };
        startup.AcceptOnlyFromAmong(NodeRecord.Automatic, NodeRecord.Manual);
        var lun = new Option<int?>("--lun") { Description = "LUN to use (default: the first disk LUN)", HelpName = "N" };
        var nbdDevice = new Option<string?>("--nbd-device")
        {
            Description = "After login: auto (a free /dev/nbdX, the default), /dev/nbdN, or none (hold the session only)",
            HelpName = "auto|/dev/nbdN|none",
        };
        var nbdUnix = new Option<string?>("--nbd-unix") { Description = "After login: serve the LUN on this NBD unix socket instead of a kernel device", HelpName = "PATH" };
        var nbdTimeout = new Option<int?>("--nbd-timeout")
        {
            Description = $"Kernel device: seconds before a request the daemon never answered (it died) is sent again to its successor (default {Nbd.Kernel.KernelNbdTimeouts.DefaultRequestSeconds})",
        };
        var nbdDeadTimeout = new Option<int?>("--nbd-dead-timeout")
        {
            Description = $"Kernel device: seconds I/O waits for a new daemon when the daemon is gone, before it fails (default {Nbd.Kernel.KernelNbdTimeouts.DefaultDeadConnectionSeconds})",
        };
        var noChap = new Option<bool>("--no-chap") { Description = "Remove the node's CHAP credentials (and its secret files)" };
        var delete = new Option<bool>("--delete") { Description = "Forget the node (its secret files too)" };
        var chap = new ChapOptions(discovery: false);
        var json = new Option<bool>("--json") { Description = "Print the nodes as a JSON array (see README, JSON output)" };
        var timeouts = new TimeoutOptions();
        var command = new Command("node", "List remembered nodes, or create, change (startup, LUN, CHAP) or delete one")
        {
            target, portal, initiator, startup, lun, nbdDevice, nbdUnix, nbdTimeout, nbdDeadTimeout, noChap, delete, json,
        };
        chap.AddTo(command);
        timeouts.AddTo(command);
        command.SetAction(result =>
        {
            string? name = result.GetValue(target) is { } iqn ? InitiatorName.Validate(iqn, "target name") : null;
            string? where = result.GetValue(portal) is { } text ? CommonOptions.ParsePortal(text).ToString() : null;
            string? initiatorName = result.GetValue(initiator) is { } own ? InitiatorName.Validate(own, "initiator name") : null;
            int? newLun = ArgumentCheck.Lun(result.GetValue(lun));
            string? device = ArgumentCheck.NbdDevice(result.GetValue(nbdDevice));
            string? unixPath = ArgumentCheck.NbdUnix(result.GetValue(nbdUnix));
            var credentials = chap.Read(result);
            var waits = timeouts.Read(result);
            var matches = NodeRecord.LoadAll(Console.Error).Where(n => (name is null || n.Target == name) && (where is null || n.Portal == where)).ToArray();
            bool changes = waits != SessionTimeouts.Default || result.GetValue(startup) is not null || newLun is not null || credentials is not null
                           || result.GetValue(noChap) || result.GetValue(delete) || initiatorName is not null
                           || device is not null || unixPath is not null
                           || result.GetValue(nbdTimeout) is not null || result.GetValue(nbdDeadTimeout) is not null;
            if (changes)
            {
                if (name is null) throw new UserError("changing a node needs -T IQN (and -p PORTAL when the target has several)");
                if (credentials is not null && result.GetValue(noChap)) throw new UserError("choose --chap-user/--chap-secret-file or --no-chap");
                if (device is not null && unixPath is not null) throw new UserError("choose --nbd-device or --nbd-unix");
                if (matches.Length == 0 && result.GetValue(delete) && where is not null && DeleteBroken(name, where)) return ExitCodes.Success;
                if (new Nbd.Kernel.KernelNbdTimeouts(result.GetValue(nbdTimeout) ?? 1, result.GetValue(nbdDeadTimeout) ?? 1).Problem is { } bad)
                    throw new UserError(bad);
                if (matches.Length == 0)
                {
                    if (result.GetValue(delete)) throw new UserError($"no node record for {name}{(where is null ? "" : $" at {where}")}", ExitCodes.NoObjectsFound);
                    if (where is null) throw new UserError($"no node record for {name}: give -p PORTAL to create one", ExitCodes.NoObjectsFound);
                    matches = [new NodeRecord(name, where, initiatorName ?? InitiatorName.Resolve(null),
                        null, NodeRecord.Manual, null, null)];
                    // With --json, stdout carries only the JSON.
                    (result.GetValue(json) ? Console.Error : Console.Out).WriteLine($"New node record for {name} at {where}");
                }
                if (result.GetValue(delete))
                {
                    foreach (var node in matches)
                    {
                        node.WithChap(null).Delete();
                        Console.WriteLine($"Deleted node record for {node.Target} at {node.Portal}");
                    }
                    return ExitCodes.Success;
                }
                matches = matches.Select(node =>
                {
                    var changed = node with
                    {
                        Startup = result.GetValue(startup) ?? node.Startup,
                        Lun = newLun ?? node.Lun,
                        Initiator = initiatorName ?? node.Initiator,
                        NbdDevice = unixPath is not null ? null : device ?? node.NbdDevice,
                        NbdUnix = device is not null ? null : unixPath ?? node.NbdUnix,
                        Timeouts = waits.Or(node.Timeouts),
                        NbdTimeout = result.GetValue(nbdTimeout) ?? node.NbdTimeout,
                        NbdDeadTimeout = result.GetValue(nbdDeadTimeout) ?? node.NbdDeadTimeout,
                    };
                    if (credentials is not null || result.GetValue(noChap)) changed = changed.WithChap(credentials);
                    changed.Save();
                    return changed;
                }).ToArray();
            }
            if (result.GetValue(json))
            {
                NodeView[] views = [.. matches.Select(NodeView.From)];
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(views, OutputJson.Default.NodeViewArray));
            }
            if (matches.Length == 0)
            {
                Console.Error.WriteLine(name is null ? "iscsi-up: no node records" : $"iscsi-up: no node record for {name}{(where is null ? "" : $" at {where}")}");
                return ExitCodes.NoObjectsFound;
            }
            if (!result.GetValue(json))
                foreach (var node in matches) Console.WriteLine(Describe(node));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>`--delete` of a record too broken to load (the skipping message names it): removes the file itself.</summary>
    private static bool DeleteBroken(string target, string portal)
    {
        string path = Path.Combine(NodeRecord.NodesDir, NodeRecord.FileName(target, portal));
        if (!File.Exists(path)) return false;
        File.Delete(path);
        Console.WriteLine($"Deleted node record for {target} at {portal}");
        return true;
    }

    private static string Describe(NodeRecord node) =>
        $"{node.Portal} {node.Target} lun {node.Lun?.ToString(CultureInfo.InvariantCulture) ?? "auto"} startup={node.Startup}" +
        (node.ChapUser is null ? "" : $" chap={node.ChapUser}{(node.ChapTargetUser is null && node.ChapTargetSecretFile is null ? "" : " (mutual)")}") +
        (node.NbdUnix is not null ? $" nbd-unix={node.NbdUnix}" : node.NbdDevice is null ? "" : $" nbd-device={node.NbdDevice}") +
        (node.NbdTimeout is { } timeout ? $" nbd-timeout={timeout}" : "") +
        (node.NbdDeadTimeout is { } dead ? $" nbd-dead-timeout={dead}" : "") +
        (node.MountPoint is null ? "" : $" mount={node.MountPoint} {node.FsType}") +
        string.Concat(node.Timeouts.Entries.Where(e => e.Value is not null).Select(e => $" {e.Key[(e.Key.LastIndexOf('.') + 1)..]}={e.Value}"));
}

/// <summary>A node record as `node --json` shows it: what it logs in with, never a secret.</summary>
public sealed record NodeView(string Target, string Portal, string Initiator, int? Lun, string Startup, string? ChapUser, bool MutualChap,
    string? NbdDevice, string? NbdUnix, int? NbdTimeout, int? NbdDeadTimeout, string? MountPoint, string? FsType)
{
    /// <summary>Every portal of the target (HOST:PORT,TPGT) the last `discover` listed: what a session may fail over to.</summary>
    public IReadOnlyList<string> Portals { get; init; } = [];

    public static NodeView From(NodeRecord n) => new(n.Target, n.Portal, n.Initiator, n.Lun, n.Startup, n.ChapUser,
        n.ChapTargetSecretFile is not null, n.NbdDevice, n.NbdUnix, n.NbdTimeout, n.NbdDeadTimeout, n.MountPoint, n.FsType)
    {
        Portals = [.. n.Portals.Select(p => p.ToString())],
    };
}
