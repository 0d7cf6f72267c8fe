using IscsiUp.SafeFiles;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// Replaces a file so that a crash leaves either the old or the new content, never a mix (the durable
/// write-temp/fsync/rename/fsync-directory sequence is <see cref="AtomicFile"/>'s): the temporary file gets the
/// original's mode/owner/context, the caller checks it, nothing is replaced if the original changed meanwhile,
/// and the previous content is kept as a backup.
/// </summary>
internal sealed class AtomicFileReplacer(ICommandRunner runner, ToolTimeouts timeouts, Action<string>? log)
{
    /// <summary>The path that is really written: a symlinked fstab is replaced at its target, keeping the link.</summary>
    public static string ResolveRealPath(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target ? target.FullName : Path.GetFullPath(path);
    }

    public static byte[]? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <param name="path">The file to replace (it may not exist yet).</param>
    /// <param name="expected">Its content when it was read (null: it did not exist); if it differs now, nothing is written.</param>
    /// <param name="content">The new content.</param>
    /// <param name="backupPath">Where the previous content is kept, or null for no backup.</param>
    /// <param name="check">Runs on the finished temporary file before it replaces <paramref name="path"/>; throw to abandon.</param>
    public async Task ReplaceAsync(
        string path,
        byte[]? expected,
        byte[] content,
        string? backupPath,
        Func<string, CancellationToken, Task>? check,
        CancellationToken cancellationToken)
    {
        var real = ResolveRealPath(path);
        var reference = expected is not null && File.Exists(real) ? real : null;
        await AtomicFile.WriteAsync(real, content, AtomicFile.OwnerOnly, async (temp, token) =>
        {
            await FileMetadata.CopyAsync(reference, temp, runner, timeouts, log, token).ConfigureAwait(false);
            if (check is not null) await check(temp, token).ConfigureAwait(false);

            var current = ReadOrNull(real);
            if (!(current is null ? expected is null : expected is not null && current.AsSpan().SequenceEqual(expected)))
                throw new FstabChangedException(path);

            if (backupPath is not null && expected is not null)
            {
                await AtomicFile.WriteAsync(backupPath, expected, AtomicFile.OwnerOnly,
                    (backupTemp, t) => FileMetadata.CopyAsync(reference, backupTemp, runner, timeouts, log, t), token).ConfigureAwait(false);
            }
        }, cancellationToken).ConfigureAwait(false);
    }
}
