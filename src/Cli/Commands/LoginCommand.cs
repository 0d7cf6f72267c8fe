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
    public static Command Create()
    {
        var target = CommonOptions.Target(required: false);
        var portal = CommonOptions.Portal(required: false);
        var initiator = CommonOptions.InitiatorName();
        var timeout = CommonOptions.LoginTimeout();
        var lun = new Option<int?>("--lun") { Description = "LUN to use (default: the first disk LUN the target reports)" };
        var nbdDevice = new Option<string?>("--nbd-device")
        {
            Description = "Attach the LUN to the kernel: auto (a free /dev/nbdX, the default), /dev/nbdN, or none (only hold the session)",
        };
        var nbdListen = new Option<string?>("--nbd-listen") { Description = "Serve the LUN over NBD on HOST:PORT (loopback only) for userspace clients" };
        var nbdUnix = new Option<string?>("--nbd-unix") { Description = "Serve the LUN over NBD on a unix socket PATH" };
        var foreground = new Option<bool>("--foreground") { Description = "Hold the session in this process, not the daemon, until SIGTERM or Ctrl-C; then flush and log out" };
        var automatic = new Option<bool>("--automatic") { Description = "Log in to every node whose startup is automatic (run by iscsi-up.service at boot)" };
        var attempts = new Option<int>("--attempts")
        {
            Description = "With --automatic: login attempts per node, with growing pauses, before it is reported and skipped",
            DefaultValueFactory = _ => 5,
        };
        var digest = new Option<string>("--digest")
        {
            Description = "CRC32C header and data digests: none, prefer (use if the target agrees) or require",
            DefaultValueFactory = _ => "none",
        };
        digest.AcceptOnlyFromAmong("none", "prefer", "require");
        var chap = new ChapOptions(discovery: false);
        var command = new Command("login", "Log in to a target and expose one of its LUNs (as /dev/nbdX by default)")
        {
            target, portal, initiator, lun, nbdDevice, nbdListen, nbdUnix, foreground, automatic, attempts, digest, timeout,
        };
        chap.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            if (result.GetValue(automatic))
            {
                if (result.GetValue(target) is not null || result.GetValue(portal) is not null || result.GetValue(foreground))
                    throw new UserError("--automatic logs in to the automatic node records; it takes no -T, -p or --foreground");
                return await AutomaticLogin.RunAsync(Math.Max(1, result.GetValue(attempts)), ct).ConfigureAwait(false);
            }
            if (result.GetValue(target) is null || result.GetValue(portal) is null)
                throw new UserError("login needs -T IQN and -p PORTAL (or --automatic for the automatic nodes)");
            var where = CommonOptions.ParsePortal(result.GetValue(portal)!);
            var digestMode = result.GetValue(digest) switch { "prefer" => DigestMode.Prefer, "require" => DigestMode.Require, _ => DigestMode.None };
            var options = new LoginOptions
            {
                InitiatorName = Config.InitiatorName.Resolve(result.GetValue(initiator)),
                TargetName = Config.InitiatorName.Validate(result.GetValue(target)!, "target name"),
                Chap = chap.Read(result),
                HeaderDigest = digestMode,
                DataDigest = digestMode,
                Timeout = TimeSpan.FromSeconds(result.GetValue(timeout)),
            };
            string? device = result.GetValue(nbdDevice);
            var export = new ExportRequest(result.GetValue(nbdListen), result.GetValue(nbdUnix), device == "none" ? null : device)
            {
                // The node's kernel-device timeouts (node --nbd-timeout/--nbd-dead-timeout) apply to every login of it.
                NbdTimeouts = Config.NodeRecord.Load(Path.Combine(Config.NodeRecord.NodesDir, Config.NodeRecord.FileName(options.TargetName!, where.ToString())))?.NbdTimeouts
                              ?? Initiator.Nbd.Kernel.KernelNbdTimeouts.Default,
            };
            int exposures = (export.NbdListen is null ? 0 : 1) + (export.NbdUnix is null ? 0 : 1) + (device is null ? 0 : 1);
            if (exposures > 1) throw new UserError("choose one of --nbd-device, --nbd-listen and --nbd-unix");
            if (exposures == 0) export = export with { NbdDevice = "auto" }; // the contract: a kernel device by default
            await Daemon.WaitingDevices.WakeDaemonAsync(Console.Error, ct).ConfigureAwait(false); // a device left by a dead daemon: take it over first
            if (SessionRecord.LoadAll().FirstOrDefault(s => s.Target == options.TargetName && s.Portal == where.ToString()) is { } existing)
                throw new UserError($"session [{existing.Id}] to {options.TargetName} at {where} already exists", ExitCodes.SessionExists);

            if (result.GetValue(foreground))
                return await new SessionHost(where, options, result.GetValue(lun), export, Console.Out).RunAsync(null, ct).ConfigureAwait(false);
            var request = new ControlRequest(ControlRequest.LoginOp, LoginRequest.From(where, options, result.GetValue(lun), export));
            return await DaemonClient.SendAsync(request, startDaemon: true, Console.Out, Console.Error, ct).ConfigureAwait(false);
        });
        return command;
    }
}
