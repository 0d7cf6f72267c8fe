using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Mount;

/// <summary>
/// mount, umount and findmnt: mounts by filesystem UUID when udev provides the
/// /dev/disk/by-uuid link, by device path otherwise, and refuses directories that are already mount
/// points or hold files.
/// </summary>
public sealed class Mounter
{
    public const string DefaultByUuidDirectory = "/dev/disk/by-uuid";

    private static readonly string[] FindmntColumns = ["-J", "-o", "SOURCE,TARGET,FSTYPE,UUID"];

    private readonly ICommandRunner _runner;
    private readonly ToolTimeouts _timeouts;

    /// <param name="runner">Runs mount, umount, findmnt, udevadm.</param>
    /// <param name="timeouts">Limits for those tools.</param>
    /// <param name="byUuidDirectory">Where udev keeps filesystem UUID links (tests point it elsewhere).</param>
    public Mounter(ICommandRunner? runner = null, ToolTimeouts? timeouts = null, string byUuidDirectory = DefaultByUuidDirectory)
    {
        ByUuidDirectory = byUuidDirectory;
        _runner = runner ?? CliCommandRunner.Instance;
        _timeouts = timeouts ?? ToolTimeouts.Default;
    }

    /// <summary>Where udev's filesystem UUID links are looked for.</summary>
    public string ByUuidDirectory { get; }

    /// <summary>
    /// Waits for udev to finish processing events (new device nodes, by-uuid links after mkfs).
    /// Best effort: missing udevadm, a timeout or a failure only means the wait is skipped.
    /// </summary>
    public async Task<bool> SettleAsync(CancellationToken cancellationToken = default)
    {
        if (!_runner.IsAvailable("udevadm")) return false;
        var seconds = Math.Max(1, (int)Math.Ceiling(_timeouts.Settle.TotalSeconds));
        try
        {
            var result = await _runner.RunAsync(
                "udevadm", ["settle", $"--timeout={seconds}"], _timeouts.Settle + TimeSpan.FromSeconds(5), null, cancellationToken).ConfigureAwait(false);
            return result.ExitCode == 0;
        }
        catch (ToolTimeoutException)
        {
            return false;
        }
    }

    /// <summary>What is mounted exactly on <paramref name="directory"/>, or null if it is not a mount point.</summary>
    public async Task<MountedFilesystem?> FindMountAsync(string directory, CancellationToken cancellationToken = default)
    {
        var found = await FindmntAsync([.. FindmntColumns, "--mountpoint", directory], cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : found[^1];
    }

    /// <summary>Where <paramref name="source"/> (a device path or <c>UUID=…</c>) is mounted; empty if nowhere.</summary>
    public Task<IReadOnlyList<MountedFilesystem>> FindBySourceAsync(string source, CancellationToken cancellationToken = default) =>
        FindmntAsync([.. FindmntColumns, "--source", source], cancellationToken);

    /// <summary>
    /// Checks, without changing anything, that <paramref name="directory"/> can take a new mount: it is
    /// missing (it will be created), or an empty directory that is not already a mount point.
    /// </summary>
    /// <exception cref="MountpointNotUsableException">the directory cannot be used.</exception>
    public async Task CheckMountpointAsync(string directory, CancellationToken cancellationToken = default)
    {
        if (File.Exists(directory)) throw new MountpointNotUsableException(directory, "exists and is not a directory");
        if (!Directory.Exists(directory)) return;
        await EnsureNotMountpointAsync(directory, cancellationToken).ConfigureAwait(false);
        if (Directory.EnumerateFileSystemEntries(directory).Any())
            throw new MountpointNotUsableException(directory, "is not empty; refusing to mount over the files in it");
    }

    /// <summary>
    /// <see cref="CheckMountpointAsync"/>, then creates the directory when missing (returns true then).
    /// </summary>
    /// <exception cref="MountpointNotUsableException">the directory cannot be used.</exception>
    public async Task<bool> PrepareMountpointAsync(string directory, CancellationToken cancellationToken = default)
    {
        await CheckMountpointAsync(directory, cancellationToken).ConfigureAwait(false);
        if (Directory.Exists(directory)) return false;
        Directory.CreateDirectory(directory);
        return true;
    }

    /// <exception cref="MountpointNotUsableException">the directory is already a mount point.</exception>
    public async Task EnsureNotMountpointAsync(string directory, CancellationToken cancellationToken = default)
    {
        if (await FindMountAsync(directory, cancellationToken).ConfigureAwait(false) is { } mounted)
        {
            throw new MountpointNotUsableException(
                directory, $"is already a mount point ({mounted.Source}, {mounted.FsType}); unmount it first or choose another directory");
        }
    }

    /// <summary>
    /// Mounts the filesystem <paramref name="uuid"/> on <paramref name="directory"/>: as <c>UUID=…</c>
    /// when /dev/disk/by-uuid/UUID exists, otherwise by <paramref name="device"/>. Call
    /// <see cref="PrepareMountpointAsync"/> first.
    /// </summary>
    /// <exception cref="MountFailedException">mount refused, or the directory is not a mount point afterwards.</exception>
    public async Task<MountMethod> MountAsync(
        string device, string uuid, string directory, string fsType, CancellationToken cancellationToken = default)
    {
        var byUuid = File.Exists(Path.Combine(ByUuidDirectory, uuid));
        var source = byUuid ? $"UUID={uuid}" : device;
        string[] arguments = ["-t", fsType, source, directory];
        var result = await _runner.RunAsync("mount", arguments, _timeouts.Mount, null, cancellationToken).ConfigureAwait(false);
        var commandLine = ToolPackages.CommandLine("mount", arguments);
        if (result.ExitCode != 0) throw new MountFailedException(commandLine, result);
        if (await FindMountAsync(directory, cancellationToken).ConfigureAwait(false) is null)
            throw new MountFailedException(commandLine, result with { StandardError = $"{directory} is not a mount point afterwards" });
        return byUuid ? MountMethod.ByUuid : MountMethod.ByDevicePath;
    }

    /// <exception cref="MountFailedException">umount refused (typically "target is busy").</exception>
    public async Task UnmountAsync(string directory, CancellationToken cancellationToken = default)
    {
        string[] arguments = [directory];
        var result = await _runner.RunAsync("umount", arguments, _timeouts.Unmount, null, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0) throw new MountFailedException(ToolPackages.CommandLine("umount", arguments), result);
    }

    private async Task<IReadOnlyList<MountedFilesystem>> FindmntAsync(string[] arguments, CancellationToken cancellationToken)
    {
        var result = await _runner.RunAsync("findmnt", arguments, _timeouts.Query, null, cancellationToken).ConfigureAwait(false);
        // findmnt exits 1 with no output when nothing matches.
        if (result.ExitCode == 1 && result.StandardOutput.Trim().Length == 0) return [];
        if (result.ExitCode != 0) throw new ToolFailedException(ToolPackages.CommandLine("findmnt", arguments), result);
        try
        {
            return FindmntJson.Parse(result.StandardOutput);
        }
        catch (System.Text.Json.JsonException error)
        {
            throw new MountManagerException($"findmnt {string.Join(' ', arguments)} printed unreadable JSON: {error.Message}", error);
        }
    }
}
