using IscsiUp.MountManager.Format;
using IscsiUp.MountManager.Fstab;
using IscsiUp.MountManager.Mount;
using IscsiUp.MountManager.Probe;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager;

/// <summary>
/// The last mile of "discover, log in, mount": probe the device, format it only if it is blank,
/// mount it by UUID, then write exactly one fstab line <c>UUID=… DIR TYPE defaults,_netdev 0 0</c>.
/// <para>
/// Every check that needs no side effect (device in use, mount point usable, fstab conflicts) runs
/// before anything is formatted or mounted. A failed mount leaves fstab untouched; a failed fstab
/// edit unmounts again, so the system is never left half-configured.
/// </para>
/// </summary>
public sealed class MountService
{
    private readonly ICommandRunner _runner;
    private readonly ToolTimeouts _timeouts;
    private readonly IFstabValidator? _validator;
    private readonly Action<string>? _progress;
    private readonly BlockProbe _probe;
    private readonly Formatter _formatter;
    private readonly Mounter _mounter;

    /// <param name="runner">Runs the external tools (tests substitute a fake).</param>
    /// <param name="timeouts">Limits for every tool.</param>
    /// <param name="fstabValidator">Defaults to <c>findmnt --verify</c>.</param>
    /// <param name="byUuidDirectory">Where udev keeps filesystem UUID links.</param>
    /// <param name="progress">Receives mkfs output and one line per step taken.</param>
    public MountService(
        ICommandRunner? runner = null,
        ToolTimeouts? timeouts = null,
        IFstabValidator? fstabValidator = null,
        string byUuidDirectory = Mounter.DefaultByUuidDirectory,
        Action<string>? progress = null)
    {
        _runner = runner ?? CliCommandRunner.Instance;
        _timeouts = timeouts ?? ToolTimeouts.Default;
        _validator = fstabValidator;
        _progress = progress;
        _probe = new BlockProbe(_runner, _timeouts);
        _formatter = new Formatter(_runner, _timeouts, _probe);
        _mounter = new Mounter(_runner, _timeouts, byUuidDirectory);
    }

    /// <summary>
    /// Mounts <paramref name="device"/> on <paramref name="directory"/> and records it in fstab.
    /// </summary>
    /// <param name="device">The block device, e.g. /dev/nbd0.</param>
    /// <param name="directory">The absolute mount point; created when missing.</param>
    /// <param name="fsType">The type to create on a blank device (default xfs). When the device already
    /// has a filesystem, null accepts whatever it is; a different explicit type is refused.</param>
    /// <param name="forceFormat">Destroy whatever the device holds and format it.</param>
    /// <param name="replace">Replace conflicting fstab lines instead of refusing.</param>
    /// <param name="fstabPath">The fstab to edit.</param>
    /// <param name="cancellationToken">Stops waiting (the running tool is killed).</param>
    public async Task<MountOutcome> MountAsync(
        string device,
        string directory,
        string? fsType = null,
        bool forceFormat = false,
        bool replace = false,
        string fstabPath = FstabEditor.DefaultPath,
        CancellationToken cancellationToken = default)
    {
        var dir = NormalizeDirectory(directory);
        var fstab = new FstabEditor(fstabPath, _validator, _runner, _timeouts, _progress);

        // 1. What is on the device, and is it already in use?
        var found = await _probe.ProbeAsync(device, cancellationToken).ConfigureAwait(false);
        var mountedAt = await _mounter.FindBySourceAsync(device, cancellationToken).ConfigureAwait(false);
        var alreadyHere = mountedAt.FirstOrDefault(m => SameDirectory(m.Target, dir));
        var elsewhere = mountedAt.FirstOrDefault(m => !SameDirectory(m.Target, dir));
        if (elsewhere is not null && alreadyHere is null)
            throw new DeviceInUseException(device, elsewhere.Target, $"unmount it there before mounting it on {dir}");

        var format = forceFormat || found.IsBlank;
        string type;
        string? uuid = null;
        if (format)
        {
            if (alreadyHere is not null || elsewhere is not null)
                throw new DeviceInUseException(device, (alreadyHere ?? elsewhere)!.Target, "unmount it before formatting");
            type = fsType ?? FilesystemTypes.Default;
            if (!FilesystemTypes.IsSupported(type)) throw new UnsupportedFilesystemException(type);
        }
        else
        {
            if (found.Content != DeviceContent.Filesystem) throw new DeviceNotBlankException(found);
            if (fsType is not null && fsType != found.Type) throw new DeviceNotBlankException(found, fsType);
            type = found.Type!;
            uuid = found.Uuid ?? throw new MountManagerException(
                $"{device} holds {found.Description} without a UUID; it cannot be mounted by UUID");
        }

        // 2. Checks without side effects, before anything is formatted or mounted.
        if (!replace) fstab.Load().EnsureNoConflict(uuid, dir);
        if (alreadyHere is null) await _mounter.CheckMountpointAsync(dir, cancellationToken).ConfigureAwait(false);

        // 3. Format only a blank device (or when forced).
        FormatResult? formatted = null;
        if (format)
        {
            Report(found.IsBlank ? $"{device} is blank; creating {type}" : $"formatting {device} as {type}, destroying {found.Description}");
            formatted = await _formatter.FormatAsync(device, type, forceFormat, _progress, cancellationToken).ConfigureAwait(false);
            uuid = formatted.Uuid;
        }

        // 4. Mount by UUID (udev first gets a chance to create the by-uuid link).
        var method = MountMethod.AlreadyMounted;
        var created = false;
        if (alreadyHere is null)
        {
            await _mounter.SettleAsync(cancellationToken).ConfigureAwait(false);
            created = await _mounter.PrepareMountpointAsync(dir, cancellationToken).ConfigureAwait(false);
            try
            {
                method = await _mounter.MountAsync(device, uuid!, dir, type, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                if (created) TryRemoveEmptyDirectory(dir);
                throw;
            }
            Report(method == MountMethod.ByUuid
                ? $"mounted UUID={uuid} on {dir}"
                : $"mounted {device} on {dir} by device path (no {_mounter.ByUuidDirectory}/{uuid} link)");
        }
        else
        {
            Report($"{device} is already mounted on {dir}");
        }

        // 5. Only now record it; if that fails, undo the mount.
        FstabEditResult edit;
        try
        {
            edit = await fstab.AddMountAsync(uuid!, dir, type, replace: replace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (method != MountMethod.AlreadyMounted && error is not OperationCanceledException)
        {
            try
            {
                await _mounter.UnmountAsync(dir, CancellationToken.None).ConfigureAwait(false);
                if (created) TryRemoveEmptyDirectory(dir);
            }
            catch (MountManagerException undo)
            {
                throw new MountManagerException($"{error.Message} (and {dir} stays mounted: {undo.Message})", error);
            }
            throw;
        }
        Report($"{fstabPath}: {edit.Description}");
        return new MountOutcome(device, dir, uuid!, type, formatted, method, created, edit);
    }

    /// <summary>
    /// Unmounts <paramref name="directory"/> and, with <paramref name="removeFstab"/>, removes our fstab
    /// line for it (the one naming the unmounted filesystem's UUID; when nothing was mounted, the
    /// <c>UUID=… _netdev</c> line for the directory). Not being mounted is not an error.
    /// </summary>
    public async Task<UnmountOutcome> UnmountAsync(
        string directory, bool removeFstab = true, string fstabPath = FstabEditor.DefaultPath, CancellationToken cancellationToken = default)
    {
        var dir = NormalizeDirectory(directory);
        var mounted = await _mounter.FindMountAsync(dir, cancellationToken).ConfigureAwait(false);
        var uuid = mounted?.Uuid;
        if (mounted is not null && uuid is null && mounted.Source.StartsWith('/') && File.Exists(mounted.Source))
        {
            try
            {
                uuid = (await _probe.ProbeAsync(mounted.Source, cancellationToken).ConfigureAwait(false)).Uuid;
            }
            catch (MountManagerException error)
            {
                Report($"could not read the UUID of {mounted.Source}: {error.Message}");
            }
        }

        if (mounted is not null)
        {
            await _mounter.UnmountAsync(dir, cancellationToken).ConfigureAwait(false);
            Report($"unmounted {mounted.Source} from {dir}");
        }
        else
        {
            Report($"{dir} is not mounted");
        }

        FstabEditResult? edit = null;
        if (removeFstab)
        {
            var fstab = new FstabEditor(fstabPath, _validator, _runner, _timeouts, _progress);
            edit = await fstab.RemoveMountAsync(dir, uuid, cancellationToken).ConfigureAwait(false);
            Report($"{fstabPath}: {edit.Description}");
        }
        return new UnmountOutcome(dir, mounted, uuid, edit);
    }

    private void Report(string message) => _progress?.Invoke(message);

    private static string NormalizeDirectory(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory) || !directory.StartsWith('/'))
            throw new MountManagerException($"mount directory must be an absolute path, not '{directory}'");
        var full = Path.GetFullPath(directory);
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }

    private static bool SameDirectory(string a, string b) =>
        string.Equals(a.TrimEnd('/'), b.TrimEnd('/'), StringComparison.Ordinal) || (a == "/" && b == "/");

    private static void TryRemoveEmptyDirectory(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: false);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
