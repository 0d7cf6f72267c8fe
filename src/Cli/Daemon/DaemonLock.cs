using System.Globalization;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// One daemon per run directory: /run/iscsi-up/daemon.lock is held (flock) for the daemon's life, and daemon.pid
/// names it. Two commands that start a daemon at the same moment thus end with one. Neither file is opened
/// through a symlink (see <see cref="SafeFiles.NoFollowFile"/>, <see cref="SafeFiles.AtomicFile"/>).
/// </summary>
public sealed class DaemonLock : IDisposable
{
    private readonly FileStream _lock;

    private DaemonLock(FileStream held) => _lock = held;

    public static string PidPath => Path.Combine(Config.Paths.RunDir, "daemon.pid");

    /// <summary>The lock, or null when another daemon holds it.</summary>
    public static DaemonLock? TryAcquire()
    {
        Config.Paths.EnsurePrivateDirectory(Config.Paths.RunDir);
        if (SafeFiles.NoFollowFile.TryOpenLocked(Path.Combine(Config.Paths.RunDir, "daemon.lock")) is not { } held)
            return null;
        SafeFiles.AtomicFile.Write(PidPath, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        return new DaemonLock(held);
    }

    /// <summary>The pid the running daemon wrote, if any.</summary>
    public static string RunningPid()
    {
        try { return File.ReadAllText(PidPath).Trim(); }
        catch (IOException) { return "unknown"; }
    }

    public void Dispose()
    {
        try { File.Delete(PidPath); } catch (IOException) { }
        _lock.Dispose();
    }
}
