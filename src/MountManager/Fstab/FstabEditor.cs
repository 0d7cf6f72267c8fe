using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// Reads, edits and safely rewrites an fstab file (by default <c>/etc/fstab</c>).
/// <list type="bullet">
/// <item>Nothing is written when an edit changes nothing (no new mtime, no backup).</item>
/// <item>The new content is written to a temporary file in the same directory, fsynced, given the
/// original's mode, owner and SELinux context, and renamed over the original.</item>
/// <item>Before the rename, <c>findmnt --verify</c> checks the new file; errors that the original did
/// not already have abandon the edit (<see cref="FstabVerificationException"/>) and the original stays.</item>
/// <item>The previous content is kept next to it as <c>fstab.iscsi-up.bak</c> (<see cref="BackupSuffix"/>):
/// one backup, of the state before iscsi-up's latest change. It is not <c>fstab~</c>, which editors
/// overwrite on their own.</item>
/// </list>
/// </summary>
public sealed class FstabEditor
{
    public const string DefaultPath = "/etc/fstab";

    /// <summary>Appended to the fstab path to name the backup.</summary>
    public const string BackupSuffix = ".iscsi-up.bak";

    private readonly IFstabValidator _validator;
    private readonly AtomicFileReplacer _replacer;
    private readonly Action<string>? _log;

    /// <param name="path">The fstab to edit.</param>
    /// <param name="validator">Defaults to <see cref="FindmntFstabValidator"/>; <see cref="NoFstabValidation"/> skips checks.</param>
    /// <param name="runner">Runs findmnt and chcon.</param>
    /// <param name="timeouts">Limits for those tools.</param>
    /// <param name="log">Receives non-fatal notes (an owner that could not be kept, verification skipped).</param>
    public FstabEditor(
        string path = DefaultPath,
        IFstabValidator? validator = null,
        ICommandRunner? runner = null,
        ToolTimeouts? timeouts = null,
        Action<string>? log = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        runner ??= CliCommandRunner.Instance;
        timeouts ??= ToolTimeouts.Default;
        _validator = validator ?? new FindmntFstabValidator(runner, timeouts);
        _replacer = new AtomicFileReplacer(runner, timeouts, log);
        _log = log;
    }

    public string Path { get; }

    /// <summary>Where the backup goes: next to the real file (a symlink is followed).</summary>
    public string BackupPath => AtomicFileReplacer.ResolveRealPath(Path) + BackupSuffix;

    /// <summary>The file as it is now; a missing file reads as empty.</summary>
    public FstabFile Load() => FstabFile.Parse(AtomicFileReplacer.ReadOrNull(Path) ?? [], Path);

    /// <summary>What <see cref="AddMountAsync"/> would do, without writing (throws the same conflicts).</summary>
    public FstabEditResult PreviewAddMount(
        string uuid, string directory, string fsType, string options = FstabFile.DefaultOptions, int dump = 0, int pass = 0, bool replace = false) =>
        Load().AddMount(uuid, directory, fsType, options, dump, pass, replace);

    /// <summary>See <see cref="FstabFile.AddMount"/>; saves when something changed.</summary>
    public Task<FstabEditResult> AddMountAsync(
        string uuid,
        string directory,
        string fsType,
        string options = FstabFile.DefaultOptions,
        int dump = 0,
        int pass = 0,
        bool replace = false,
        CancellationToken cancellationToken = default) =>
        EditAsync(file => file.AddMount(uuid, directory, fsType, options, dump, pass, replace), cancellationToken);

    /// <summary>See <see cref="FstabFile.RemoveMount"/>; saves when something changed.</summary>
    public Task<FstabEditResult> RemoveMountAsync(string directory, string? uuid = null, CancellationToken cancellationToken = default) =>
        EditAsync(file => file.RemoveMount(directory, uuid), cancellationToken);

    private async Task<FstabEditResult> EditAsync(Func<FstabFile, FstabEditResult> edit, CancellationToken cancellationToken)
    {
        var original = AtomicFileReplacer.ReadOrNull(Path);
        var file = FstabFile.Parse(original ?? [], Path);
        var result = edit(file);
        var updated = file.ToBytes();
        if (!result.Changed || (original is not null && updated.AsSpan().SequenceEqual(original))) return result;

        await _replacer.ReplaceAsync(Path, original, updated, BackupPath, VerifyAsync, cancellationToken).ConfigureAwait(false);
        return result;

        async Task VerifyAsync(string candidate, CancellationToken token)
        {
            var after = await _validator.VerifyAsync(candidate, token).ConfigureAwait(false);
            if (after is null)
            {
                if (_validator is not NoFstabValidation) _log?.Invoke($"findmnt --verify is not available; {Path} was not verified");
                return;
            }
            var before = original is null
                ? FstabVerification.Clean
                : await _validator.VerifyAsync(AtomicFileReplacer.ResolveRealPath(Path), token).ConfigureAwait(false) ?? FstabVerification.Clean;
            var introduced = after.NewErrorsSince(before);
            if (introduced.Count > 0) throw new FstabVerificationException(Path, introduced);
        }
    }
}
