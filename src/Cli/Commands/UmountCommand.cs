using System.CommandLine;
using IscsiUp.MountManager;
using IscsiUp.MountManager.Fstab;

namespace IscsiUp.Cli.Commands;

/// <summary>`iscsi-up umount -m DIR [--remove-fstab]`: unmounts, and drops our fstab line when asked.</summary>
public static class UmountCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--mount-point", "-m") { Description = "The mount point to unmount", Required = true };
        var remove = new Option<bool>("--remove-fstab") { Description = "Also remove the UUID=... _netdev line iscsi-up added for it" };
        var fstab = new Option<string>("--fstab") { Description = "The fstab to edit", DefaultValueFactory = _ => FstabEditor.DefaultPath };
        var command = new Command("umount", "Unmount an iSCSI filesystem (the session stays logged in)") { dir, remove, fstab };
        command.SetAction(async (result, ct) =>
        {
            var service = new MountService(progress: line => Console.WriteLine($"  {line}"));
            var outcome = await service.UnmountAsync(result.GetValue(dir)!, result.GetValue(remove), result.GetValue(fstab)!, ct).ConfigureAwait(false);
            Console.WriteLine(outcome.WasMounted ? $"Unmounted {outcome.Directory}" : $"{outcome.Directory} was not mounted");
            return ExitCodes.Success;
        });
        return command;
    }
}
