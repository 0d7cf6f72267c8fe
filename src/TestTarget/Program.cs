using System.CommandLine;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using IscsiUp.TestTarget.Cli;
using IscsiUp.TestTarget.Control;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget;

/// <summary>
/// iscsi-test-target: serves an in-memory (or file-backed) RAID-5 array as LUN 0 of one iSCSI target, optionally
/// more plain LUNs and more portals, until SIGTERM or Ctrl-C. Prints one "listening on ..." line on stdout when
/// ready; the target's log goes to stderr. "iscsi-test-target control SOCKET COMMAND" changes the LUNs of a running
/// target started with --control SOCKET. Exit codes: 0 after a clean stop, 1 when the target cannot run (port in
/// use, disk files) or a control command failed, 2 for bad arguments.
/// </summary>
public static class Program
{
    private const int Failure = 1;
    private const int Usage = 2;

    public static async Task<int> Main(string[] args)
    {
        var portal = new Option<string[]>("--portal")
        {
            Description = "HOST:PORT to listen on (port 0 picks a free port); repeat for more portals, all in portal group 1",
            DefaultValueFactory = _ => ["0.0.0.0:3260"],
        };
        var target = new Option<string>("--target") { Description = "the target's IQN", Required = true };
        var acl = new Option<string[]>("--acl") { Description = "initiator IQN allowed to log in (repeat for more; none allows every initiator)" };
        var raid = new Option<string>("--raid5") { Description = "RAID-5 member disks as ACTIVE+SPARES", DefaultValueFactory = _ => "3+1" };
        var diskSize = new Option<string>("--disk-size") { Description = "size of each member disk, with K/M/G/T suffixes (e.g. 512M)", Required = true };
        var dir = new Option<string?>("--dir") { Description = "keep the member disks as files in this directory (default: in memory)" };
        var alias = new Option<string?>("--alias") { Description = "TargetAlias to announce" };
        var chapUser = new Option<string?>("--chap-user") { Description = "require CHAP with this user name" };
        var chapSecretFile = new Option<string?>("--chap-secret-file") { Description = "file holding the CHAP secret" };
        var mutualUser = new Option<string?>("--mutual-chap-user") { Description = "name the target answers mutual CHAP with" };
        var mutualSecretFile = new Option<string?>("--mutual-chap-secret-file") { Description = "file holding the target's mutual CHAP secret" };
        var luns = new Option<int>("--luns") { Description = "LUNs to serve: LUN 0 is the RAID-5 array, LUNs 1 to N-1 plain volumes of --disk-size (DIR/lunN.img with --dir)", DefaultValueFactory = _ => 1 };
        var control = new Option<string?>("--control") { Description = "Unix socket taking LUN changes while running: add LUN SIZE, remove LUN, resize LUN SIZE, list (send them with the control command)" };
        var unitAttention = new Option<bool>("--unit-attention") { Description = "report POWER ON OR RESET once to every new session" };
        var quiet = new Option<bool>("--quiet") { Description = "do not log sessions and errors to stderr" };

        var root = new RootCommand("Bundled iSCSI test target: a RAID-5 array served as LUN 0, optionally more LUNs and portals (RFC 7143 target, SBC-3 disk). " +
            "A change through --control raises REPORTED LUNS DATA HAS CHANGED (add, remove) or CAPACITY DATA HAS CHANGED (resize) on every session.")
        {
            portal, target, acl, raid, diskSize, luns, dir, alias, chapUser, chapSecretFile, mutualUser, mutualSecretFile, control, unitAttention, quiet,
        };
        root.SetAction((result, ct) => RunAsync(new Arguments(
            result.GetValue(portal)!, result.GetValue(target)!, result.GetValue(acl) ?? [], result.GetValue(raid)!,
            result.GetValue(diskSize)!, result.GetValue(luns), result.GetValue(dir), result.GetValue(alias), result.GetValue(chapUser),
            result.GetValue(chapSecretFile), result.GetValue(mutualUser), result.GetValue(mutualSecretFile),
            result.GetValue(control), result.GetValue(unitAttention), result.GetValue(quiet)), ct));
        root.Subcommands.Add(ControlCommand());

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            Console.Error.WriteLine($"iscsi-test-target: {parsed.Errors[0].Message} (see --help)");
            return Usage;
        }
        // Our own signal handlers, registered before the action starts: System.CommandLine registers its
        // handler only once the action has yielded, and a SIGTERM sent right after the "listening" line
        // could otherwise still kill the process with the runtime's default exit code 143.
        using var stopping = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => Stop(context, stopping));
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => Stop(context, stopping));
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, stopping.Token).ConfigureAwait(false);
    }

    private static void Stop(PosixSignalContext context, CancellationTokenSource stopping)
    {
        context.Cancel = true; // shut down in order rather than die
        stopping.Cancel();
    }

    /// <summary>"control SOCKET COMMAND...": sends one command to a running target and prints its answer.</summary>
    private static Command ControlCommand()
    {
        var socket = new Argument<string>("SOCKET") { Description = "the target's --control socket" };
        var words = new Argument<string[]>("COMMAND") { Description = "add LUN SIZE | remove LUN | resize LUN SIZE | list", Arity = ArgumentArity.OneOrMore };
        var command = new Command("control", "Change the LUNs of a running target: add LUN SIZE, remove LUN, resize LUN SIZE (grow only), list. " +
            "Prints the target's one-line answer; exit code 1 when it starts with \"error:\".") { socket, words };
        command.SetAction(async (result, ct) =>
        {
            string path = result.GetValue(socket)!;
            string answer;
            try
            {
                answer = await ControlSocket.SendAsync(path, string.Join(' ', result.GetValue(words)!), ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                return Error(Failure, $"cannot reach the control socket {path}: {e.Message}");
            }
            Console.Out.WriteLine(answer);
            return answer.StartsWith("ok", StringComparison.Ordinal) ? 0 : Failure;
        });
        return command;
    }

    private sealed record Arguments(
        string[] Portals, string Target, string[] Acl, string Raid, string DiskSize, int Luns, string? Dir, string? Alias,
        string? ChapUser, string? ChapSecretFile, string? MutualUser, string? MutualSecretFile, string? Control, bool UnitAttention, bool Quiet);

    private static async Task<int> RunAsync(Arguments args, CancellationToken ct)
    {
        var listens = new List<ListenAddress>();
        foreach (string text in args.Portals)
        {
            if (!ListenAddress.TryParse(text, out ListenAddress one)) return Error(Usage, $"invalid --portal \"{text}\": expected HOST:PORT");
            listens.Add(one);
        }
        ListenAddress listen = listens[0];
        if (args.Luns < 1 || args.Luns > LunInventory.MaxLun + 1) return Error(Usage, $"invalid --luns {args.Luns}: expected 1 to {LunInventory.MaxLun + 1}");
        if (!RaidShape.TryParse(args.Raid, out RaidShape shape)) return Error(Usage, $"invalid --raid5 \"{args.Raid}\": expected ACTIVE+SPARES such as 3+1 (2 to 64 active disks)");
        if (!ByteSize.TryParse(args.DiskSize, out long diskSize)) return Error(Usage, $"invalid --disk-size \"{args.DiskSize}\": expected a size such as 512M or 1G");
        if (diskSize < Raid5Array.DefaultChunkSize || diskSize % 512 != 0)
            return Error(Usage, $"invalid --disk-size {args.DiskSize}: a member disk needs at least {ByteSize.Format(Raid5Array.DefaultChunkSize)} and a multiple of 512 bytes");
        if (string.IsNullOrWhiteSpace(args.Target)) return Error(Usage, "--target needs an IQN");
        if ((args.ChapUser is null) != (args.ChapSecretFile is null)) return Error(Usage, "--chap-user and --chap-secret-file go together");
        if ((args.MutualUser is not null || args.MutualSecretFile is not null) && (args.ChapUser is null || args.MutualSecretFile is null))
            return Error(Usage, "mutual CHAP needs --chap-user, --chap-secret-file and --mutual-chap-secret-file");

        TargetChap? chap = null;
        try
        {
            if (args.ChapUser is not null)
                chap = new TargetChap(args.ChapUser, ReadSecret(args.ChapSecretFile!), args.MutualUser, args.MutualSecretFile is null ? null : ReadSecret(args.MutualSecretFile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Error(Failure, $"cannot read the CHAP secret: {e.Message}");
        }

        Raid5Array array;
        try
        {
            array = args.Dir is null
                ? Raid5Array.CreateInMemory(shape.Active, shape.Spares, diskSize)
                : Raid5Array.CreateOnFiles(args.Dir, shape.Active, shape.Spares, diskSize);
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return Error(Failure, $"cannot set up the RAID-5 array{(args.Dir is null ? "" : $" in {args.Dir}")}: {e.Message}");
        }

        var volumes = new Dictionary<int, IBlockStorage>();
        try
        {
            for (int lun = 1; lun < args.Luns; lun++) volumes[lun] = LunInventory.CreateVolume(args.Dir, lun, diskSize, fresh: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (IBlockStorage volume in volumes.Values) volume.Dispose();
            array.Dispose();
            return Error(Failure, $"cannot set up the plain LUNs in {args.Dir}: {e.Message}");
        }

        using (array)
        {
            if (!args.Quiet) array.Log += message => Console.Error.WriteLine($"raid5: {message}");
            var options = new TargetOptions
            {
                TargetName = args.Target,
                Host = listen.Host,
                Port = listen.Port,
                AdditionalPortals = listens[1..],
                Acl = args.Acl,
                Chap = chap,
                TargetAlias = args.Alias,
                Luns = new Dictionary<int, IBlockStorage>(volumes) { [0] = array },
                ReportPowerOnUnitAttention = args.UnitAttention,
            };
            var server = new IscsiTarget(options);
            using var inventory = new LunInventory(server, args.Dir, volumes.Values);
            await using (server.ConfigureAwait(false))
            {
                try
                {
                    await server.StartAsync(ct).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    string why = e.SocketErrorCode == SocketError.AddressAlreadyInUse ? "address already in use" : e.Message;
                    return Error(Failure, $"cannot listen on {server.PortalFailed ?? $"{listen.Host}:{listen.Port}"}: {why}");
                }
                catch (OperationCanceledException)
                {
                    return 0;
                }

                ControlSocket? controlSocket = null;
                try
                {
                    if (args.Control is not null) controlSocket = ControlSocket.Start(args.Control, inventory);
                }
                catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
                {
                    return Error(Failure, $"cannot open the control socket {args.Control}: {e.Message}");
                }

                // The target's log starts after its own "listening on" event: stdout's line below says it once.
                if (!args.Quiet)
                {
                    server.Log += message => Console.Error.WriteLine(message);
                    if (controlSocket is not null) controlSocket.Log += message => Console.Error.WriteLine(message);
                }
                Console.Out.WriteLine(ListeningLine(server, args, array, shape));
                Console.Out.Flush();
                try
                {
                    await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) { }
                if (controlSocket is not null) await controlSocket.DisposeAsync().ConfigureAwait(false);
                await server.StopAsync().ConfigureAwait(false);
            }
            try
            {
                await array.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                return Error(Failure, $"flushing the RAID-5 array failed: {e.Message}");
            }
        }
        return 0;
    }

    /// <summary>
    /// "listening on 127.0.0.1:3260 target IQN LUN 0 32.0 MiB RAID-5 3+1": more portals are listed comma-separated,
    /// plain LUNs and the control socket follow.
    /// </summary>
    private static string ListeningLine(IscsiTarget server, Arguments args, Raid5Array array, RaidShape shape) =>
        $"listening on {string.Join(", ", server.Portals)} target {args.Target} LUN 0 {ByteSize.Format(array.Capacity)} RAID-5 {shape}" +
        (args.Luns > 1 ? $" LUNs 1-{args.Luns - 1} {ByteSize.Format(server.Options.Luns[1].Capacity)} each" : "") +
        (args.Dir is null ? "" : $" in {args.Dir}") +
        (args.Control is null ? "" : $" control {args.Control}");

    /// <summary>A secret file's content without the trailing newline editors add.</summary>
    private static byte[] ReadSecret(string path) => Encoding.UTF8.GetBytes(File.ReadAllText(path).TrimEnd('\r', '\n'));

    private static int Error(int code, string message)
    {
        Console.Error.WriteLine($"iscsi-test-target: {message}");
        return code;
    }
}
