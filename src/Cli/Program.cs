using System.CommandLine;
using IscsiUp.Cli;
using IscsiUp.Cli.Commands;

var root = new RootCommand("iscsi-up: discover, log in to and mount iSCSI storage with a managed initiator")
{
    DiscoverCommand.Create(),
    LoginCommand.Create(),
    LogoutCommand.Create(),
    SessionCommand.Create(),
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"iscsi-up: {error.Message}");
    Console.Error.WriteLine("Try 'iscsi-up --help' or 'iscsi-up COMMAND --help'.");
    return ExitCodes.InvalidArgument;
}
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception error)
{
    return ErrorReporter.Report(error, Console.Error);
}
