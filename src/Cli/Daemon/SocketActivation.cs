using System.Globalization;
using System.Net.Sockets;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// sd_listen_fds(3) without libsystemd: when systemd started us for iscsi-upd.socket, the listening socket is
/// file descriptor 3 and LISTEN_PID names this process.
/// </summary>
public static class SocketActivation
{
    private const int FirstDescriptor = 3;

    public static Socket? TakeListener()
    {
        string? pid = Environment.GetEnvironmentVariable("LISTEN_PID");
        string? count = Environment.GetEnvironmentVariable("LISTEN_FDS");
        // Not ours to pass on: a child started later must not believe it was activated.
        Environment.SetEnvironmentVariable("LISTEN_PID", null);
        Environment.SetEnvironmentVariable("LISTEN_FDS", null);
        Environment.SetEnvironmentVariable("LISTEN_FDNAMES", null);
        if (pid is null || count is null) return null;
        if (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out int owner) || owner != Environment.ProcessId) return null;
        if (!int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out int fds) || fds < 1) return null;
        return new Socket(new SafeSocketHandle(FirstDescriptor, ownsHandle: true));
    }
}
