using System.CommandLine;
using System.Diagnostics;
using IscsiUp.Cli.Config;
using IscsiUp.Cli.Sessions;
using IscsiUp.MountManager;
using IscsiUp.MountManager.Fstab;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up mount -T IQN -p PORTAL -m DIR`: the tutorial's last mile. Logs in if needed (kernel attach),
/// formats only a blank device, mounts by UUID, records the node as automatic and adds exactly one fstab
/// line `UUID=... DIR TYPE defaults,_netdev 0 0`.
/// </summary>
public static class MountCommand
{
    public static Command Create()
    {
        var target = CommonOptions.Target(required: true);
        var portal = CommonOptions.Portal(required: true);
        var initiator = CommonOptions.InitiatorName();
        var dir = new Option<string>("--mount-point", "-m") { Description = "Directory to mount on (created when missing)", Required = true, HelpName = "DIR" };
        var type = new Option<string>("--type", "-t") { Description = "Filesystem to create on a blank disk: xfs or ext4", DefaultValueFactory = _ => "xfs" };
        type.AcceptOnlyFromAmong("xfs", "ext4");
        var lun = new Option<int?>("--lun") { Description = "LUN to use (default: the first disk LUN)", HelpName = "N" };
        var force = new Option<bool>("--force-format") { Description = "Format even if the disk already holds a filesystem (destroys it)" };
        var replace = new Option<bool>("--replace") { Description = "Replace an fstab line that already uses this directory or UUID" };
        var fstab = new Option<string>("--fstab") { Description = "The fstab to edit", DefaultValueFactory = _ => FstabEditor.DefaultPath, HelpName = "PATH" };
        var chap = new ChapOptions(discovery: false);
        var command = new Command("mount", "Log in if needed, format a blank disk, mount it by UUID and add one _netdev fstab line")
        {
            target, portal, initiator, dir, type, lun, force, replace, fstab,
        };
        chap.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var where = CommonOptions.ParsePortal(result.GetValue(portal)!);
            string name = InitiatorName.Validate(result.GetValue(target)!, "target name");
            string initiatorName = InitiatorName.Resolve(result.GetValue(initiator));
            string mountPoint = result.GetValue(dir)!;
            if (!Path.IsPathRooted(mountPoint)) throw new UserError($"mount point must be an absolute path, not \"{mountPoint}\"");

            // CHAP given now, or remembered by the node from an earlier mount.
            int? wantedLun = ArgumentCheck.Lun(result.GetValue(lun));
            var credentials = chap.Read(result);
            var known = NodeRecord.Find(name, where.ToString());
            var session = FindSession(name, where.ToString());
            if (session is null)
            {
                await EnsureNbdDriverAsync(ct).ConfigureAwait(false);
                var args = new List<string> { "login", "-T", name, "-p", where.ToString(), "-I", initiatorName, "--nbd-device", "auto" };
                if (wantedLun is { } n) { args.Add("--lun"); args.Add(n.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
                args.AddRange(chap.Arguments(result) ?? NodeChapArguments(known));
                int code = await RunSelfAsync(args, ct).ConfigureAwait(false);
                if (code != 0) return code;
                session = FindSession(name, where.ToString()) ?? throw new UserError($"login to {name} at {where} did not leave a session");
            }
            // A session exposing several LUNs: the one asked for, else the first (the first disk LUN, as before).
            var exposed = wantedLun is null ? session.Luns[0] : session.Luns.FirstOrDefault(l => l.Lun == wantedLun)
                ?? throw new UserError($"session [{session.Id}] to {name} at {where} does not expose LUN {wantedLun} (it exposes LUN " +
                                       $"{string.Join(", ", session.Luns.Select(l => l.Lun))}); log out and run mount again to log in to LUN {wantedLun}");
            if (!exposed.Device.StartsWith("/dev/", StringComparison.Ordinal))
                throw new UserError($"session [{session.Id}] to {name} serves {exposed.Device}, not a kernel device; log out and run mount again");

            var service = new MountService(progress: line => Console.WriteLine($"  {line}"));
            var outcome = await service.MountAsync(exposed.Device, mountPoint, result.GetValue(type), result.GetValue(force),
                result.GetValue(replace), result.GetValue(fstab)!, ct).ConfigureAwait(false);
            // The node logs in every disk LUN at boot unless narrowed: a new node is narrowed to the LUN --lun names; a
            // node narrowed to another LUN is widened to every LUN, so the filesystems mounted before find theirs.
            int? nodeLun = known is null ? wantedLun : known.Lun == wantedLun ? known.Lun : null;
            var node = new NodeRecord(name, where.ToString(), initiatorName, nodeLun, NodeRecord.Automatic, outcome.Directory, outcome.FsType)
            {
                ChapUser = known?.ChapUser, ChapSecretFile = known?.ChapSecretFile,
                ChapTargetUser = known?.ChapTargetUser, ChapTargetSecretFile = known?.ChapTargetSecretFile,
                NbdTimeout = known?.NbdTimeout, NbdDeadTimeout = known?.NbdDeadTimeout,
                Portals = known?.Portals ?? [], // what discover learnt: the failover portals
                Timeouts = known?.Timeouts ?? SessionTimeouts.Default, // what `node` set: the session's waits
            };
            (credentials is null ? node : node.WithChap(credentials)).Save();
            Console.WriteLine($"{(outcome.Formatted ? "Formatted" : "Kept the existing")} {outcome.FsType} filesystem UUID={outcome.Uuid} on {outcome.Device}");
            Console.WriteLine($"Mounted on {outcome.Directory}; {result.GetValue(fstab)}: {outcome.Fstab.Description}");
            await EnableBootUnitAsync(ct).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// The _netdev line only mounts at boot if iscsi-up.service logs the node in first: enable it where systemd
    /// runs and the unit is installed, and say so; otherwise tell the administrator what to do.
    /// </summary>
    private static async Task EnableBootUnitAsync(CancellationToken ct)
    {
        const string unit = "iscsi-up.service";
        bool systemd = Directory.Exists("/run/systemd/system");
        bool installed = File.Exists($"/usr/lib/systemd/system/{unit}") || File.Exists($"/etc/systemd/system/{unit}") || File.Exists($"/lib/systemd/system/{unit}");
        if (!systemd || !installed)
        {
            Console.WriteLine($"Note: enable {unit} (systemctl enable {unit}) so this mount comes back at boot.");
            return;
        }
        var start = new ProcessStartInfo("systemctl", ["enable", unit]) { UseShellExecute = false, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        string error = await process.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        Console.WriteLine(process.ExitCode == 0
            ? $"Enabled {unit}: the node logs in at boot before _netdev filesystems mount."
            : $"Warning: could not enable {unit}: {error.Trim()}");
    }

    /// <summary>
    /// A filesystem needs a kernel block device: without the nbd driver say so before logging in, in mount's own
    /// words (login's hint about NBD sockets does not apply here).
    /// </summary>
    private static async Task EnsureNbdDriverAsync(CancellationToken ct)
    {
        try { await Task.Run(Nbd.Kernel.KernelNbdDevice.EnsureDriver, ct).ConfigureAwait(false); }
        catch (Nbd.Kernel.NbdUnavailableException)
        {
            throw new UserError("mount attaches the LUN as /dev/nbdX, and this kernel has no nbd driver (modprobe nbd did not load it); " +
                                "install the kernel's nbd module and run mount again", ExitCodes.Error);
        }
    }

    /// <summary>The login options for the CHAP credentials a node record remembers (its own 0600 secret files).</summary>
    private static IEnumerable<string> NodeChapArguments(NodeRecord? node)
    {
        if (node?.ChapUser is null || node.ChapSecretFile is null) yield break;
        yield return "--chap-user"; yield return node.ChapUser;
        yield return "--chap-secret-file"; yield return node.ChapSecretFile;
        if (node.ChapTargetSecretFile is null) yield break;
        if (node.ChapTargetUser is not null) { yield return "--chap-target-user"; yield return node.ChapTargetUser; }
        yield return "--chap-target-secret-file"; yield return node.ChapTargetSecretFile;
    }

    private static SessionRecord? FindSession(string target, string portal) =>
        SessionRecord.LoadAll().FirstOrDefault(s => s.Target == target && s.Portal == portal);

    /// <summary>Runs another iscsi-up command as a child, passing its output through.</summary>
    internal static async Task<int> RunSelfAsync(IEnumerable<string> args, CancellationToken ct)
    {
        using var child = Process.Start(SelfCommand.StartInfo(args)) ?? throw new UserError("cannot start iscsi-up");
        await child.WaitForExitAsync(ct).ConfigureAwait(false);
        return child.ExitCode;
    }
}
