using System.CommandLine;
using IscsiUp.Cli.Config;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up node [-T IQN [-p PORTAL] --startup automatic|manual]`: list remembered nodes or change their startup.</summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var target = CommonOptions.Target(required: false);
        var portal = CommonOptions.Portal(required: false);
        var startup = new Option<string?>("--startup") { Description = "automatic (log in at boot) or manual" };
        startup.AcceptOnlyFromAmong(NodeRecord.Automatic, NodeRecord.Manual);
        var command = new Command("node", "List remembered nodes, or set a node's startup to automatic or manual") { target, portal, startup };
        command.SetAction(result =>
        {
            var nodes = NodeRecord.LoadAll();
            string? name = result.GetValue(target);
            string? where = result.GetValue(portal) is { } text ? CommonOptions.ParsePortal(text).ToString() : null;
            var matches = nodes.Where(n => (name is null || n.Target == name) && (where is null || n.Portal == where)).ToArray();
            if (result.GetValue(startup) is { } mode)
            {
                if (name is null) throw new UserError("--startup needs -T IQN (and -p PORTAL when the target has several)");
                if (matches.Length == 0) throw new UserError($"no node record for {name}{(where is null ? "" : $" at {where}")}", ExitCodes.NoObjectsFound);
                foreach (var node in matches) (node with { Startup = mode }).Save();
            }
            if (matches.Length == 0)
            {
                Console.Error.WriteLine("iscsi-up: no node records");
                return ExitCodes.NoObjectsFound;
            }
            foreach (var node in matches.Select(n => result.GetValue(startup) is { } m ? n with { Startup = m } : n))
                Console.WriteLine($"{node.Portal} {node.Target} lun {(node.Lun?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "auto")} startup={node.Startup}{(node.MountPoint is null ? "" : $" mount={node.MountPoint} {node.FsType}")}");
            return ExitCodes.Success;
        });
        return command;
    }
}
