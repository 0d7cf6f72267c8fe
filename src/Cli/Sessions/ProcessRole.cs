using System.CommandLine;

namespace IscsiUp.Cli.Sessions;

/// <summary>What this process is, decided once from the parsed command line: it sets how the process's threads
/// run (<see cref="ProcessRoles"/>).</summary>
public enum ProcessRole
{
    /// <summary>A command that does its work and exits (discover, logout, session, the client side of login...).</summary>
    Command,
    /// <summary><c>login --foreground</c> serving userspace NBD clients or nothing: holds its session itself.</summary>
    SessionHolder,
    /// <summary><c>login --foreground</c> attaching a kernel /dev/nbdX: holds its session and serves the kernel.</summary>
    KernelDeviceHolder,
    /// <summary>The daemon: holds every session and may serve kernel devices.</summary>
    Daemon,
}

public static class ProcessRoles
{
    /// <summary>The role of the command <paramref name="parsed"/> runs.</summary>
    public static ProcessRole Of(ParseResult parsed)
    {
        switch (parsed.CommandResult.Command.Name)
        {
            case "daemon":
                return ProcessRole.Daemon;
            case "login" when parsed.GetValue<bool>("--foreground"):
                bool userspaceOnly = parsed.GetValue<string?>("--nbd-listen") is not null || parsed.GetValue<string?>("--nbd-unix") is not null
                                     || parsed.GetValue<string?>("--nbd-device") == "none";
                return userspaceOnly ? ProcessRole.SessionHolder : ProcessRole.KernelDeviceHolder;
            default:
                return ProcessRole.Command;
        }
    }

    /// <summary>Holds sessions: serves I/O from one socket event thread (<see cref="Io.SocketEventThread"/>).</summary>
    public static bool HoldsSessions(this ProcessRole role) => role != ProcessRole.Command;

    /// <summary>May serve a kernel /dev/nbdX: needs PR_SET_IO_FLUSHER (<see cref="IoFlusher"/>).</summary>
    public static bool ServesKernelDevice(this ProcessRole role) => role is ProcessRole.Daemon or ProcessRole.KernelDeviceHolder;
}
