using System.CommandLine;
using IscsiUp.Cli.Daemon;
using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up login -T IQN -p PORTAL`: the daemon logs in, picks the LUN, exposes it and keeps the session; the
/// command returns once the LUN is usable. `--automatic` does that for every automatic node (what
/// iscsi-up.service runs at boot). With --foreground the session lives in this process until SIGTERM instead.
/// </summary>
public static class LoginCommand
{
    /// <summary>With the pauses growing to 30 s, 100 attempts already wait for most of an hour.</summary>
    private const int MaxAttempts = 100;

    public static Command Create()
    {
        var target = CommonOptions.Target(required: false);
        var portal = CommonOptions.Portal(required: false);
        var initiator = CommonOptions.InitiatorName();
        var timeout = CommonOptions.LoginTimeout();
        var lun = new Option<int[]>("--lun") { Description = "A LUN to expose; repeat for several (default: every disk LUN the target reports)", HelpName = "N" };
        var nbdDevice = new Option<string?>("--nbd-device")
        {
            Description = "Attach the LUNs to the kernel: auto (a free /dev/nbdX each, the default), /dev/nbdN (one LUN only), or none (only hold the session)",
            HelpName = "auto|/dev/nbdN|none",
        };
        var nbdListen = new Option<string?>("--nbd-listen") { Description = "Serve the LUNs over NBD on HOST:PORT (loopback only) for userspace clients, one export each (lunN)", HelpName = "HOST:PORT" };
        var nbdUnix = new Option<string?>("--nbd-unix") { Description = "Serve the LUNs over NBD on a unix socket PATH, one export each (lunN)", HelpName = "PATH" };
        var foreground = new Option<bool>("--foreground") { Description = "Hold the session in this process, not the daemon, until SIGTERM or Ctrl-C; then flush and log out" };
        var automatic = new Option<bool>("--automatic") { Description = "Log in to every node whose startup is automatic (run by iscsi-up.service at boot)" };
        var attempts = new Option<int>("--attempts")
        {
            Description = $"With --automatic: login attempts per node (1 to {MaxAttempts}), with growing pauses, before it is reported and skipped",
            DefaultValueFactory = _ => 5,
            HelpName = "N",
        };
        var digest = new Option<string>("--digest")
        {
            Description = "CRC32C header and data digests: none, prefer (use if the target agrees) or require (default: iscsi-up.conf's, else none)",
            DefaultValueFactory = _ => "none",
        };
        digest.AcceptOnlyFromAmong("none", "prefer", "require");
        var chap = new ChapOptions(discovery: false);
        var timeouts = new TimeoutOptions();
        var command = new Command("login", "Log in to a target and expose its disk LUNs (each as a /dev/nbdX by default); a node record for the target supplies what the command line does not")
        {
            target, portal, initiator, lun, nbdDevice, nbdListen, nbdUnix, foreground, automatic, attempts, digest, timeout,
        };
        chap.AddTo(command);
        timeouts.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            // Every value is checked before anything is contacted: a bad one costs no login on the target.
            int timeoutSeconds = ArgumentCheck.LoginTimeout(result.GetValue(timeout));
            var defaults = Config.NodeDefaults.Load();
            if (result.GetValue(automatic))
            {
                if (result.GetValue(target) is not null || result.GetValue(portal) is not null || result.GetValue(foreground))
                    throw new UserError("--automatic logs in to the automatic node records; it takes no -T, -p or --foreground");
                int tries = result.GetValue(attempts);
                if (tries is < 1 or > MaxAttempts) throw new UserError($"invalid --attempts {tries}: give 1 to {MaxAttempts}");
                return await AutomaticLogin.RunAsync(tries, defaults, ct).ConfigureAwait(false);
            }
            if (result.GetValue(target) is null || result.GetValue(portal) is null)
                throw new UserError("login needs -T IQN and -p PORTAL (or --automatic for the automatic nodes)");
            var where = CommonOptions.ParsePortal(result.GetValue(portal)!);
            string targetName = Config.InitiatorName.Validate(result.GetValue(target)!, "target name");
            string? device = ArgumentCheck.NbdDevice(result.GetValue(nbdDevice));
            string? listen = result.GetValue(nbdListen);
            if (listen is not null) ArgumentCheck.NbdListen(listen);
            string? unixPath = ArgumentCheck.NbdUnixToCreate(result.GetValue(nbdUnix));
            int[] wantedLuns = [.. (result.GetValue(lun) ?? []).Select(n => ArgumentCheck.Lun(n)!.Value)];
            int exposures = (listen is null ? 0 : 1) + (unixPath is null ? 0 : 1) + (device is null ? 0 : 1);
            if (exposures > 1) throw new UserError("choose one of --nbd-device, --nbd-listen and --nbd-unix");
            string? initiatorName = result.GetValue(initiator) is { } own ? Config.InitiatorName.Validate(own, "initiator name") : null;
            var credentials = chap.Read(result);
            var givenTimeouts = timeouts.Read(result);

            // Like `iscsiadm -m node -T IQN -p IP --login`: a remembered node logs in with its own settings (CHAP,
            // LUN, how the LUN is exposed, initiator name); what the command line gives wins.
            var node = Config.NodeRecord.Find(targetName, where.ToString());
            // ... and iscsi-up.conf supplies what neither says.
            DigestMode? digestMode = result.GetResult(digest) is { Implicit: false }
                ? result.GetValue(digest) switch { "prefer" => DigestMode.Prefer, "require" => DigestMode.Require, _ => DigestMode.None }
                : null;
            var options = new LoginOptions
            {
                InitiatorName = initiatorName ?? node?.Initiator ?? Config.InitiatorName.Resolve(null),
                TargetName = targetName,
                Chap = credentials ?? node?.ReadChap() ?? defaults.ReadChap(discovery: false),
                HeaderDigest = digestMode ?? defaults.HeaderDigest,
                DataDigest = digestMode ?? defaults.DataDigest,
                Timeout = TimeSpan.FromSeconds(result.GetResult(timeout) is { Implicit: false } ? timeoutSeconds : defaults.LoginTimeoutSeconds),
            };
            var export = exposures > 0 ? new ExportRequest(listen, unixPath, device == "none" ? null : device)
                : node?.Export ?? new ExportRequest(null, null, "auto"); // the contract: a kernel device by default
            // The node's kernel-device timeouts (node --nbd-timeout/--nbd-dead-timeout) apply to every login of it.
            export = export with { NbdTimeouts = node?.NbdTimeouts ?? Nbd.Kernel.KernelNbdTimeouts.Default };
            IReadOnlyList<int>? chosenLuns = wantedLuns.Length > 0 ? wantedLuns : node?.Lun is { } nodeLun ? [nodeLun] : null;
            var waits = givenTimeouts.Or(node?.Timeouts ?? Config.SessionTimeouts.Default);
            await Daemon.WaitingDevices.WakeDaemonAsync(Console.Error, ct).ConfigureAwait(false); // a device left by a dead daemon: take it over first
            if (SessionRecord.LoadAll().FirstOrDefault(s => s.Target == options.TargetName && s.Portal == where.ToString()) is { } existing)
                throw new UserError($"session [{existing.Id}] to {options.TargetName} at {where} already exists", ExitCodes.SessionExists);

            if (result.GetValue(foreground))
                return await new SessionHost(where, options, chosenLuns, export, Console.Out) { Recovery = waits.ToRecovery(defaults.Recovery), KnownPortals = node?.Portals }.RunAsync(null, ct).ConfigureAwait(false);
            var request = new ControlRequest(ControlRequest.LoginOp, LoginRequest.From(where, options, chosenLuns, export, defaults.Recovery) with { Timeouts = waits, Portals = node is null ? null : [.. node.Portals.Select(p => p.ToString())] });
            return await DaemonClient.SendAsync(request, startDaemon: true, Console.Out, Console.Error, ct).ConfigureAwait(false);
        });
        return command;
    }
}
