using IscsiUp.MountManager.Probe;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Format;

/// <summary>
/// Creates a filesystem, but only on a device the probe reports blank: an existing filesystem,
/// partition table or other signature is never destroyed unless the caller forces it.
/// </summary>
public sealed class Formatter
{
    private readonly BlockProbe _probe;
    private readonly ICommandRunner _runner;
    private readonly ToolTimeouts _timeouts;

    public Formatter(ICommandRunner? runner = null, ToolTimeouts? timeouts = null, BlockProbe? probe = null)
    {
        _runner = runner ?? CliCommandRunner.Instance;
        _timeouts = timeouts ?? ToolTimeouts.Default;
        _probe = probe ?? new BlockProbe(_runner, _timeouts);
    }

    /// <summary>
    /// Formats <paramref name="device"/> with <paramref name="fsType"/> and returns the new UUID.
    /// mkfs output is passed line by line to <paramref name="progress"/>.
    /// </summary>
    /// <exception cref="DeviceNotBlankException">the device holds a signature and <paramref name="force"/> is false.</exception>
    /// <exception cref="UnsupportedFilesystemException"><paramref name="fsType"/> is neither xfs nor ext4.</exception>
    public async Task<FormatResult> FormatAsync(
        string device,
        string fsType = FilesystemTypes.Default,
        bool force = false,
        Action<string>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (!FilesystemTypes.IsSupported(fsType)) throw new UnsupportedFilesystemException(fsType);

        var before = await _probe.ProbeAsync(device, cancellationToken).ConfigureAwait(false);
        if (!before.IsBlank)
        {
            if (!force) throw new DeviceNotBlankException(before);
            progress?.Invoke($"destroying {before.Description} on {device} (forced)");
            // mkfs overwrites its own area; wipefs also erases signatures elsewhere (a backup GPT at
            // the end of the disk, an old RAID superblock) so the new filesystem is the only one found.
            if (_runner.IsAvailable("wipefs"))
                await RunCheckedAsync("wipefs", ["-a", device], _timeouts.Query, progress, cancellationToken).ConfigureAwait(false);
        }

        List<string> arguments = force ? [FilesystemTypes.ForceFlag(fsType), device] : [device];
        await RunCheckedAsync(FilesystemTypes.MkfsTool(fsType), arguments, _timeouts.Format, progress, cancellationToken).ConfigureAwait(false);

        var after = await _probe.ProbeAsync(device, cancellationToken).ConfigureAwait(false);
        if (after.Content != DeviceContent.Filesystem || after.Type != fsType || after.Uuid is null)
        {
            throw new MountManagerException(
                $"{FilesystemTypes.MkfsTool(fsType)} {device} reported success but blkid now sees {after.Description} on it");
        }
        return new FormatResult(device, fsType, after.Uuid, before);
    }

    private async Task RunCheckedAsync(
        string tool, IReadOnlyList<string> arguments, TimeSpan timeout, Action<string>? progress, CancellationToken cancellationToken)
    {
        var result = await _runner.RunAsync(tool, arguments, timeout, progress, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0) throw new ToolFailedException(ToolPackages.CommandLine(tool, arguments), result);
    }
}
