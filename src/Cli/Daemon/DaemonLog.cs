namespace IscsiUp.Cli.Daemon;

/// <summary>
/// Where a daemon started by a command (not by systemd) writes: /run/iscsi-up/daemon.log. Under systemd the
/// daemon's output goes to the journal instead.
/// </summary>
public static class DaemonLog
{
    public static string Path => System.IO.Path.Combine(Config.Paths.RunDir, "daemon.log");

    /// <summary>
    /// Detaches this process from the command that started it: a session of its own (no SIGINT from that terminal),
    /// stdin from /dev/null, stdout and stderr appended to the log (file descriptors 0-2 themselves, so nothing
    /// can still write into the starting command's pipes).
    /// </summary>
    public static void Detach()
    {
        Tmds.Linux.LibC.setsid();
        Config.Paths.EnsurePrivateDirectory(Config.Paths.RunDir);
        using var log = SafeFiles.NoFollowFile.OpenAppend(Path);
        using var nothing = new FileStream("/dev/null", FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        int logFd = (int)log.SafeFileHandle.DangerousGetHandle();
        Tmds.Linux.LibC.dup2((int)nothing.SafeFileHandle.DangerousGetHandle(), 0);
        Tmds.Linux.LibC.dup2(logFd, 1);
        Tmds.Linux.LibC.dup2(logFd, 2);
    }

    /// <summary>The log's last line, to quote when a started daemon failed at once.</summary>
    public static string? LastLine()
    {
        try { return File.Exists(Path) ? File.ReadLines(Path).LastOrDefault(l => l.Trim().Length > 0) : null; }
        catch (IOException) { return null; }
    }
}
