namespace IscsiUp.MountManager.Tools;

/// <summary>
/// Runs the external tools the mount manager relies on (blkid, mkfs, mount, findmnt, udevadm, chcon).
/// Every call is bounded by <paramref name="timeout"/>; a non-zero exit code is returned, not thrown,
/// because several tools use exit codes as answers (blkid 2 = nothing found, findmnt 1 = not found).
/// </summary>
public interface ICommandRunner
{
    /// <summary>Whether <paramref name="tool"/> (a bare name such as <c>findmnt</c>) can be found.</summary>
    bool IsAvailable(string tool);

    /// <summary>
    /// Runs <paramref name="tool"/> with <paramref name="arguments"/> under LC_ALL=C.
    /// <paramref name="onOutputLine"/>, when given, receives stdout and stderr lines as they arrive.
    /// </summary>
    /// <exception cref="ToolNotFoundException">the tool is not installed.</exception>
    /// <exception cref="ToolTimeoutException">the tool ran longer than <paramref name="timeout"/> and was killed.</exception>
    Task<CommandResult> RunAsync(
        string tool,
        IReadOnlyList<string> arguments,
        TimeSpan timeout,
        Action<string>? onOutputLine = null,
        CancellationToken cancellationToken = default);
}
