using System.Globalization;
using System.Net;

namespace IscsiUp.Initiator.Session;

/// <summary>A target portal: host and TCP port, written HOST[:PORT] or [IPv6]:PORT; iSCSI's port is 3260.</summary>
public sealed record Portal(string Host, int Port)
{
    public const int DefaultPort = 3260;

    public static Portal Parse(string text)
    {
        if (!TryParse(text, out var portal, out var error)) throw new FormatException(error);
        return portal!;
    }

    public static bool TryParse(string text, out Portal? portal, out string? error)
    {
        portal = null;
        error = null;
        text = text.Trim();
        // "HOST:PORT,TPGT" as discovery prints it: the group tag is not part of the address.
        int comma = text.IndexOf(',');
        if (comma >= 0) text = text[..comma];
        string host;
        string? port = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0) { error = $"invalid portal \"{text}\": missing ']'"; return false; }
            host = text[1..close];
            if (close + 1 < text.Length)
            {
                if (text[close + 1] != ':') { error = $"invalid portal \"{text}\""; return false; }
                port = text[(close + 2)..];
            }
        }
        else if (text.Count(c => c == ':') == 1)
        {
            int colon = text.IndexOf(':');
            host = text[..colon];
            port = text[(colon + 1)..];
        }
        else host = text; // a bare IPv6 address or a host name
        if (host.Length == 0) { error = $"invalid portal \"{text}\": no host"; return false; }
        int number = DefaultPort;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out number) || number is < 1 or > 65535))
        {
            error = $"invalid portal \"{text}\": port must be a number from 1 to 65535";
            return false;
        }
        portal = new Portal(host, number);
        return true;
    }

    public override string ToString() => IPAddress.TryParse(Host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"[{Host}]:{Port}"
        : $"{Host}:{Port}";
}
