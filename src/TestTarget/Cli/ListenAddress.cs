using System.Globalization;

namespace IscsiUp.TestTarget.Cli;

/// <summary>The --portal argument: HOST:PORT, [IPv6]:PORT or a bare host (port 3260). Port 0 picks a free port.</summary>
public readonly record struct ListenAddress(string Host, int Port)
{
    public const int DefaultPort = 3260;

    public static bool TryParse(string text, out ListenAddress address)
    {
        address = default;
        text = text.Trim();
        string host = text;
        string? port = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0) return false;
            host = text[1..close];
            if (close + 1 < text.Length)
            {
                if (text[close + 1] != ':') return false;
                port = text[(close + 2)..];
            }
        }
        else if (text.Count(c => c == ':') == 1)
        {
            int colon = text.IndexOf(':');
            host = text[..colon];
            port = text[(colon + 1)..];
        }
        if (host.Length == 0) return false;
        int number = DefaultPort;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out number) || number > 65535)) return false;
        address = new ListenAddress(host, number);
        return true;
    }
}
