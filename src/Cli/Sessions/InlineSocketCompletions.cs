using IscsiUp.Io;

namespace IscsiUp.Cli.Sessions;

/// <summary>The commands whose process holds sessions (the daemon, <c>login --foreground</c>) serve I/O from
/// one socket event thread; see <see cref="SocketEventThread"/>.</summary>
public static class InlineSocketCompletions
{
    public static void EnableFor(string[] args)
    {
        if (args.Length > 0 && (args[0] == "daemon" || (args[0] == "login" && args.Contains("--foreground"))))
            SocketEventThread.RunContinuationsInline();
    }
}
