using System.Globalization;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Discovery;

/// <summary>One portal of a discovered target with its portal group tag, printed as iscsiadm does: HOST:PORT,TPGT.</summary>
public sealed record TargetPortal(Portal Portal, int GroupTag)
{
    /// <summary>Parses a TargetAddress value ("host:port,tpgt", "[v6]:port,tpgt" or "host").</summary>
    public static TargetPortal Parse(string address)
    {
        int comma = address.LastIndexOf(',');
        int tag = 1;
        if (comma >= 0 && int.TryParse(address.AsSpan(comma + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int parsed)) tag = parsed;
        return new TargetPortal(Portal.Parse(comma >= 0 ? address[..comma] : address), tag);
    }

    public static bool TryParse(string address, out TargetPortal? portal)
    {
        try { portal = Parse(address); return true; }
        catch (FormatException) { portal = null; return false; }
    }

    public override string ToString() => $"{Portal},{GroupTag}";
}
