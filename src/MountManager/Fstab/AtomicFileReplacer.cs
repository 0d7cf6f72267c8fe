using IscsiUp.MountManager.Native;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Fstab;

/// <summary>
/// Replaces a file so that a crash leaves either the old or the new content, never a mix: write a
/// temporary file in the same directory, fsync it, give it the original's mode/owner/context, let the
/// caller check it, refuse if the original changed meanwhile, keep a backup, rename over, fsync the directory.
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
        var directory = Path.GetDirectoryName(real) ?? "/";
        var reference = expected is not null && File.Exists(real) ? real : null;
        var temp = TempPathFor(real);
        try
        {
            await WriteDurablyAsync(temp, content, reference, cancellationToken).ConfigureAwait(false);
            if (check is not null) await check(temp, cancellationToken).ConfigureAwait(false);

            var current = ReadOrNull(real);
            if (!(current is null ? expected is null : expected is not null && current.AsSpan().SequenceEqual(expected)))
                throw new FstabChangedException(path);

            if (backupPath is not null && expected is not null)
            {
                var backupTemp = TempPathFor(backupPath);
                try
                {
                    await WriteDurablyAsync(backupTemp, expected, reference, cancellationToken).ConfigureAwait(false);
                    File.Move(backupTemp, backupPath, overwrite: true);
                }
                finally
                {
                    DeleteQuietly(backupTemp);
                }
            }

            File.Move(temp, real, overwrite: true);
            if (!LibC.SyncDirectory(directory)) log?.Invoke($"could not fsync {directory}; the rename may not survive a crash");
        }
        finally
        {
            DeleteQuietly(temp);
        }
    }

    private async Task WriteDurablyAsync(string temp, byte[] content, string? reference, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using (var stream = new FileStream(temp, options))
        {
            await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }
        await FileMetadata.CopyAsync(reference, temp, runner, timeouts, log, cancellationToken).ConfigureAwait(false);
    }

    private static string TempPathFor(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "/", $".{Path.GetFileName(path)}.iscsi-up-{Guid.NewGuid():N}.tmp");

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
