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
        var lun = new Option<int?>("--lun") { Description = "LUN to use (default: the first disk LUN)" };
        var nbdDevice = new Option<string?>("--nbd-device") { Description = "After login: auto (a free /dev/nbdX, the default), /dev/nbdN, or none (hold the session only)" };
        var nbdUnix = new Option<string?>("--nbd-unix") { Description = "After login: serve the LUN on this NBD unix socket instead of a kernel device" };
        var nbdTimeout = new Option<int?>("--nbd-timeout")
        {
            Description = $"Kernel device: seconds before a request the daemon never answered (it died) is sent again to its successor (default {Initiator.Nbd.Kernel.KernelNbdTimeouts.DefaultRequestSeconds})",
        };
        var nbdDeadTimeout = new Option<int?>("--nbd-dead-timeout")
        {
            Description = $"Kernel device: seconds I/O waits for a new daemon when the daemon is gone, before it fails (default {Initiator.Nbd.Kernel.KernelNbdTimeouts.DefaultDeadConnectionSeconds})",
        };
        var noChap = new Option<bool>("--no-chap") { Description = "Remove the node's CHAP credentials (and its secret files)" };
        var delete = new Option<bool>("--delete") { Description = "Forget the node (its secret files too)" };
        var chap = new ChapOptions(discovery: false);
        var command = new Command("node", "List remembered nodes, or create, change (startup, LUN, CHAP) or delete one")
        {
            target, portal, initiator, startup, lun, nbdDevice, nbdUnix, nbdTimeout, nbdDeadTimeout, noChap, delete,
        };
        chap.AddTo(command);
        command.SetAction(result =>
        {
            string? name = result.GetValue(target);
            string? where = result.GetValue(portal) is { } text ? CommonOptions.ParsePortal(text).ToString() : null;
            var matches = NodeRecord.LoadAll().Where(n => (name is null || n.Target == name) && (where is null || n.Portal == where)).ToArray();
            var credentials = chap.Read(result);
            bool changes = result.GetValue(startup) is not null || result.GetValue(lun) is not null || credentials is not null
                           || result.GetValue(noChap) || result.GetValue(delete) || result.GetValue(initiator) is not null
                           || result.GetValue(nbdDevice) is not null || result.GetValue(nbdUnix) is not null
                           || result.GetValue(nbdTimeout) is not null || result.GetValue(nbdDeadTimeout) is not null;
            if (changes)
            {
                if (name is null) throw new UserError("changing a node needs -T IQN (and -p PORTAL when the target has several)");
                if (credentials is not null && result.GetValue(noChap)) throw new UserError("choose --chap-user/--chap-secret-file or --no-chap");
                if (result.GetValue(nbdDevice) is not null && result.GetValue(nbdUnix) is not null) throw new UserError("choose --nbd-device or --nbd-unix");
                if (new Initiator.Nbd.Kernel.KernelNbdTimeouts(result.GetValue(nbdTimeout) ?? 1, result.GetValue(nbdDeadTimeout) ?? 1).Problem is { } bad)
                    throw new UserError(bad);
                if (matches.Length == 0)
                {
                    if (result.GetValue(delete)) throw new UserError($"no node record for {name}{(where is null ? "" : $" at {where}")}", ExitCodes.NoObjectsFound);
                    if (where is null) throw new UserError($"no node record for {name}: give -p PORTAL to create one", ExitCodes.NoObjectsFound);
                    matches = [new NodeRecord(InitiatorName.Validate(name, "target name"), where, InitiatorName.Resolve(result.GetValue(initiator)),
                        null, NodeRecord.Manual, null, null)];
                    Console.WriteLine($"New node record for {name} at {where}");
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
                        Lun = result.GetValue(lun) ?? node.Lun,
                        Initiator = result.GetValue(initiator) is { } iqn ? InitiatorName.Validate(iqn, "initiator name") : node.Initiator,
                        NbdDevice = result.GetValue(nbdUnix) is not null ? null : result.GetValue(nbdDevice) ?? node.NbdDevice,
                        NbdUnix = result.GetValue(nbdDevice) is not null ? null : result.GetValue(nbdUnix) is { } path ? Path.GetFullPath(path) : node.NbdUnix,
                        NbdTimeout = result.GetValue(nbdTimeout) ?? node.NbdTimeout,
                        NbdDeadTimeout = result.GetValue(nbdDeadTimeout) ?? node.NbdDeadTimeout,
                    };
                    if (credentials is not null || result.GetValue(noChap)) changed = changed.WithChap(credentials);
                    changed.Save();
                    return changed;
                }).ToArray();
            }
            if (matches.Length == 0)
            {
                Console.Error.WriteLine(name is null ? "iscsi-up: no node records" : $"iscsi-up: no node record for {name}{(where is null ? "" : $" at {where}")}");
                return ExitCodes.NoObjectsFound;
            }
            foreach (var node in matches) Console.WriteLine(Describe(node));
            return ExitCodes.Success;
        });
        return command;
    }

    private static string Describe(NodeRecord node) =>
        $"{node.Portal} {node.Target} lun {node.Lun?.ToString(CultureInfo.InvariantCulture) ?? "auto"} startup={node.Startup}" +
        (node.ChapUser is null ? "" : $" chap={node.ChapUser}{(node.ChapTargetUser is null && node.ChapTargetSecretFile is null ? "" : " (mutual)")}") +
        (node.NbdUnix is not null ? $" nbd-unix={node.NbdUnix}" : node.NbdDevice is null ? "" : $" nbd-device={node.NbdDevice}") +
        (node.NbdTimeout is { } timeout ? $" nbd-timeout={timeout}" : "") +
        (node.NbdDeadTimeout is { } dead ? $" nbd-dead-timeout={dead}" : "") +
        (node.MountPoint is null ? "" : $" mount={node.MountPoint} {node.FsType}");
}
