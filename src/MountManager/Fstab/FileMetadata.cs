using IscsiUp.MountManager.Native;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// Gives a replacement file the identity of the file it replaces: mode, owner and group, and (on
/// SELinux systems, best effort) the security context via <c>chcon --reference</c>.
/// </summary>
internal static class FileMetadata
{
    public const UnixFileMode NewFileMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private const string SelinuxEnforce = "/sys/fs/selinux/enforce";

    public static async Task CopyAsync(
        string? reference, string target, ICommandRunner runner, ToolTimeouts timeouts, Action<string>? log, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows()) return;
        if (reference is null)
        {
            File.SetUnixFileMode(target, NewFileMode);
            return;
        }

        if (LibC.GetOwner(reference) is { } owner && LibC.GetOwner(target) is { } current && owner != current)
        {
            var errno = LibC.ChangeOwner(target, owner.Uid, owner.Gid);
            if (errno != 0) log?.Invoke($"could not give {reference}'s owner {owner.Uid}:{owner.Gid} to the new file (errno {errno}); it keeps {current.Uid}:{current.Gid}");
        }
        // After chown, which may clear set-id bits.
        File.SetUnixFileMode(target, File.GetUnixFileMode(reference));

        if (File.Exists(SelinuxEnforce) && runner.IsAvailable("chcon"))
        {
            try
            {
                var result = await runner.RunAsync("chcon", [$"--reference={reference}", target], timeouts.Query, null, cancellationToken)
                    .ConfigureAwait(false);
                if (result.ExitCode != 0) log?.Invoke($"could not copy the SELinux context of {reference}: {result.FirstErrorLine}");
            }
            catch (MountManagerException error)
            {
                log?.Invoke($"could not copy the SELinux context of {reference}: {error.Message}");
            }
        }
    }
}
