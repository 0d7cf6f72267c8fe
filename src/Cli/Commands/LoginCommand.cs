using System.CommandLine;
using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up login -T IQN -p PORTAL`: log in, pick the LUN, expose it, and keep the session. With
/// --foreground the session lives in this process until SIGTERM; otherwise a detached copy of this program
/// holds it and the command returns once the LUN is usable.
/// </summary>
public static class LoginCommand
{
    public static Command Create()
    {
        var target = CommonOptions.Target(required: true);
        var portal = CommonOptions.Portal(required: true);
        var initiator = CommonOptions.InitiatorName();
        var timeout = CommonOptions.LoginTimeout();
        var lun = new Option<int?>("--lun") { Description = "LUN to use (default: the first disk LUN the target reports)" };
        var nbdDevice = new Option<string?>("--nbd-device")
        {
            Description = "Attach the LUN to the kernel: auto (a free /dev/nbdX, the default), /dev/nbdN, or none (only hold the session)",
        };
        var nbdListen = new Option<string?>("--nbd-listen") { Description = "Serve the LUN over NBD on HOST:PORT (loopback only) for userspace clients" };
        var nbdUnix = new Option<string?>("--nbd-unix") { Description = "Serve the LUN over NBD on a unix socket PATH" };
        var foreground = new Option<bool>("--foreground") { Description = "Stay in the foreground until SIGTERM or Ctrl-C, then flush and log out" };
        var digest = new Option<string>("--digest")
        {
            Description = "CRC32C header and data digests: none, prefer (use if the target agrees) or require",
            DefaultValueFactory = _ => "none",
        };
        digest.AcceptOnlyFromAmong("none", "prefer", "require");
        var chap = new ChapOptions(discovery: false);
        var command = new Command("login", "Log in to a target and expose one of its LUNs")
        {
            target, portal, initiator, lun, nbdDevice, nbdListen, nbdUnix, foreground, digest, timeout,
        };
        chap.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
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
            var export = new ExportRequest(result.GetValue(nbdListen), result.GetValue(nbdUnix), device == "none" ? null : device);
            int exposures = (export.NbdListen is null ? 0 : 1) + (export.NbdUnix is null ? 0 : 1) + (device is null ? 0 : 1);
            if (exposures > 1) throw new UserError("choose one of --nbd-device, --nbd-listen and --nbd-unix");
            if (exposures == 0) export = export with { NbdDevice = "auto" }; // the contract: a kernel device by default
            if (SessionRecord.LoadAll().FirstOrDefault(s => s.Target == options.TargetName && s.Portal == where.ToString()) is { } existing)
                throw new UserError($"session [{existing.Id}] to {options.TargetName} at {where} already exists (pid {existing.Pid})", ExitCodes.SessionExists);

            if (!result.GetValue(foreground))
                return await Detached.StartAsync(ct).ConfigureAwait(false);
            var host = new SessionHost(where, options, result.GetValue(lun), export, Console.Out);
            return await host.RunAsync(Detached.SignalReady, ct).ConfigureAwait(false);
        });
        return command;
    }
}
