using IscsiUp.Io;
using System.CommandLine;
using IscsiUp.Cli.Config;
using IscsiUp.Initiator.Discovery;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up discover -p HOST[:PORT]`: SendTargets discovery, one line per target portal as iscsiadm prints it.</summary>
public static class DiscoverCommand
{
    public static Command Create()
    {
        var portal = CommonOptions.Portal(required: true);
        var initiator = CommonOptions.InitiatorName();
        var timeout = CommonOptions.LoginTimeout();
        var chap = new ChapOptions(discovery: true);
        var json = new Option<bool>("--json") { Description = "Print the target portals as a JSON array (see README, JSON output)" };
        var command = new Command("discover", "List the targets a portal offers (SendTargets discovery)")
        {
            portal, initiator, timeout, json,
        };
        chap.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var where = CommonOptions.ParsePortal(result.GetValue(portal)!);
            int seconds = ArgumentCheck.LoginTimeout(result.GetValue(timeout));
            var defaults = NodeDefaults.Load();
            var options = new LoginOptions
            {
                InitiatorName = Config.InitiatorName.Resolve(result.GetValue(initiator)),
                Chap = chap.Read(result) ?? defaults.ReadChap(discovery: true),
                Timeout = TimeSpan.FromSeconds(result.GetResult(timeout) is { Implicit: false } ? seconds : defaults.LoginTimeoutSeconds),
            };
            var targets = await SendTargets.DiscoverAsync(where, options, ct).ConfigureAwait(false);
            // A name that is not an iSCSI name (a space, say) would shift the columns scripts read: name it, skip it.
            // Names are case-insensitive (RFC 3722), so case alone does not make one invalid.
            foreach (var bad in targets.Where(t => !Config.InitiatorName.IsValid(t.Name.ToLowerInvariant())))
                Console.Error.WriteLine($"iscsi-up: {where} reported \"{PeerText.Escape(bad.Name)}\", which is not a valid iSCSI target name; skipped");
            targets = [.. targets.Where(t => Config.InitiatorName.IsValid(t.Name.ToLowerInvariant()))];
            RememberPortals(targets);
            if (result.GetValue(json))
            {
                DiscoveredPortal[] list = [.. targets.SelectMany(t => t.Portals.Select(p => new DiscoveredPortal(t.Name, p.Portal.ToString(), p.GroupTag)))];
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(list, OutputJson.Default.DiscoveredPortalArray));
            }
            if (targets.Count == 0)
            {
                Console.Error.WriteLine($"iscsi-up: no targets found at {where} for initiator {options.InitiatorName}");
                return ExitCodes.NoObjectsFound;
            }
            if (result.GetValue(json)) return ExitCodes.Success;
            foreach (var target in targets)
                foreach (var targetPortal in target.Portals)
                    Console.WriteLine($"{targetPortal} {target.Name}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// Node records of the targets found learn every portal of their target (node.portals): recovery fails over to
    /// the others of the session's portal group. A record that cannot be written is named on stderr; discovery stands.
    /// Portals add up over discoveries: some targets (tgtd) list only the portal asked, so discovering at each portal
    /// of the target, as with iscsiadm, makes the node know them all.
    /// </summary>
    private static void RememberPortals(IReadOnlyList<DiscoveredTarget> targets)
    {
        try
        {
            foreach (var node in NodeRecord.LoadAll(problems: null))
            {
                if (targets.FirstOrDefault(t => string.Equals(t.Name, node.Target, StringComparison.OrdinalIgnoreCase)) is not { } found) continue;
                var merged = Merge(node.Portals, found.Portals);
                if (node.Portals.SequenceEqual(merged)) continue;
                (node with { Portals = merged }).Save();
            }
        }
        catch (Exception e) when (e is UserError or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"iscsi-up: warning: could not remember the portals in the node records: {e.Message}");
        }
    }

    /// <summary>The remembered portals, each with the group tag just listed for it, then the portals new to the node.</summary>
    public static IReadOnlyList<TargetPortal> Merge(IReadOnlyList<TargetPortal> remembered, IReadOnlyList<TargetPortal> listed) =>
    [
        .. remembered.Select(old => listed.FirstOrDefault(now => now.Portal == old.Portal) ?? old),
        .. listed.Where(now => remembered.All(old => old.Portal != now.Portal)),
    ];
}

/// <summary>One line of discover's output as JSON: the target and one portal it is reachable at.</summary>
public sealed record DiscoveredPortal(string Target, string Portal, int GroupTag);
