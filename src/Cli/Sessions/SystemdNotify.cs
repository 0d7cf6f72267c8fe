using System.Net.Sockets;
using System.Text;

namespace IscsiUp.Cli.Sessions;

/// <summary>sd_notify(3) without libsystemd: a datagram to $NOTIFY_SOCKET ("READY=1", "STATUS=...", "STOPPING=1").</summary>
public static class SystemdNotify
{
    public static bool Send(string state)
    {
        string? path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path)) return false;
        if (path[0] == '@') path = "\0" + path[1..]; // abstract namespace
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            socket.Send(Encoding.UTF8.GetBytes(state));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
