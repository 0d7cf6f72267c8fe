using System.CommandLine;
using IscsiUp.MountManager;
using IscsiUp.MountManager.Fstab;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up umount -m DIR [--remove-fstab]`: unmounts, and drops our fstab line when asked.</summary>
public static class UmountCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--mount-point", "-m") { Description = "The mount point to unmount", Required = true, HelpName = "DIR" };
        var remove = new Option<bool>("--remove-fstab") { Description = "Also remove the UUID=... _netdev line iscsi-up added for it" };
        var fstab = new Option<string>("--fstab") { Description = "The fstab to edit", DefaultValueFactory = _ => FstabEditor.DefaultPath, HelpName = "PATH" };
        var command = new Command("umount", "Unmount an iSCSI filesystem (the session stays logged in)") { dir, remove, fstab };
        command.SetAction(async (result, ct) =>
        {
            // The service says what it did, one line per step ("unmounted SOURCE from DIR" or "DIR is not mounted",
            // then the fstab edit): that is the whole report, with no summary repeating it.
            var service = new MountService(progress: Console.WriteLine);
            await service.UnmountAsync(result.GetValue(dir)!, result.GetValue(remove), result.GetValue(fstab)!, ct).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }
}
