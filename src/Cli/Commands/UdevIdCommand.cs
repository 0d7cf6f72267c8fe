using System.CommandLine;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Commands;

/// <summary>
/// `iscsi-up udev-id nbdX`: what udev needs to name one of our devices (see <see cref="UdevNames"/>); run by the
/// package's udev rule, not by people, so it is left out of --help. Prints nothing for another program's device.
/// </summary>
public static class UdevIdCommand
{
    public static Command Create()
    {
        var device = new Argument<string>("DEVICE") { Description = "The kernel name of the device (nbd0, nbd0p1)" };
        var command = new Command("udev-id", "Print the udev properties of one of iscsi-up's nbd devices") { device };
        command.Hidden = true;
        command.SetAction(result =>
        {
            if (UdevNames.RecordOf(Path.GetFileName(result.GetValue(device)!), Nbd.Kernel.KernelNbdSysfs.Host) is ({ } record, { } lun))
                foreach (string line in UdevNames.Properties(record, lun)) Console.WriteLine(line);
            return ExitCodes.Success;
        });
        return command;
    }
}
