using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// Answers the SendTargets text key (RFC 7143 appendix C): for "All" (or this target's own name, or an empty
/// value inside a normal session) it lists TargetName= followed by one TargetAddress=host:port,tpgt per portal.
/// </summary>
public static class SendTargetsResponder
{
    /// <param name="value">The SendTargets value the initiator sent.</param>
    /// <param name="discovery">True in a discovery session (an empty value then names nothing).</param>
    /// <param name="targetName">The target this server offers.</param>
    /// <param name="portals">Where the target can be reached, as host:port (IPv6 hosts in brackets).</param>
    public static TextKeys Answer(string value, bool discovery, string targetName, IEnumerable<string> portals, ushort portalGroupTag)
    {
        var keys = new TextKeys();
        bool listed = value == "All"
            || string.Equals(value, targetName, StringComparison.OrdinalIgnoreCase)
            || (value.Length == 0 && !discovery);
        if (!listed) return keys;
        keys.Add(LoginKeys.TargetName, targetName);
        foreach (string portal in portals) keys.Add(LoginKeys.TargetAddress, $"{portal},{portalGroupTag}");
        return keys;
    }
}
