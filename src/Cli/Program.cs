using System.Runtime.InteropServices;
using System.CommandLine;
using IscsiUp.Cli;
using IscsiUp.Cli.Commands;
using IscsiUp.Cli.Sessions;

var root = new RootCommand("iscsi-up: discover, log in to and mount iSCSI storage with a managed initiator")
{
    DiscoverCommand.Create(),
    LoginCommand.Create(),
    LogoutCommand.Create(),
    RescanCommand.Create(),
    SessionCommand.Create(),
    MountCommand.Create(),
    UmountCommand.Create(),
    DaemonCommand.Create(),
    NodeCommand.Create(),
    InameCommand.Create(),
    UdevIdCommand.Create(),
};

var parsed = root.Parse(args);
if (args.Length == 0)
{
    // No command: the usage, as `iscsiadm` with no mode shows it, rather than a bare "command required".
    root.Parse(["--help"]).Invoke();
    return ExitCodes.InvalidArgument;
}
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"iscsi-up: {error.Message}");
    Console.Error.WriteLine("Try 'iscsi-up --help' or 'iscsi-up COMMAND --help'.");
    return ExitCodes.InvalidArgument;
}
// Decided once, before the first socket opens (the runtime reads the socket settings once) and before the re-exec
// that marks a kernel device's server as an I/O flusher.
var role = ProcessRoles.Of(parsed);
IoFlusher.EnsureFor(role);
if (role.HoldsSessions()) IscsiUp.Io.SocketEventThread.RunContinuationsInline();
// SIGTERM and Ctrl-C cancel the command's token: a session then detaches, flushes and logs out before exiting.
using var stop = new CancellationTokenSource();
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
void Cancel(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
try
{
    var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
    return await parsed.InvokeAsync(configuration, stop.Token);
}
catch (Exception error)
{
    return ErrorReporter.Report(error, Console.Error);
}
