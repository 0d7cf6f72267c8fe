namespace IscsiUp.Iscsi.Login;

/// <summary>Login response Status-Class and Status-Detail (RFC 7143 section 11.13.5) and what they mean to an administrator.</summary>
public static class LoginStatus
{
    public const byte Success = 0;
    public const byte Redirection = 1;
    public const byte InitiatorError = 2;
    public const byte TargetError = 3;

    public const ushort InitiatorErrorGeneric = 0x0200;
    public const ushort AuthenticationFailure = 0x0201;
    public const ushort AuthorizationFailure = 0x0202;
    public const ushort NotFound = 0x0203;
    public const ushort TargetRemoved = 0x0204;
    public const ushort UnsupportedVersion = 0x0205;
    public const ushort TooManyConnections = 0x0206;
    public const ushort MissingParameter = 0x0207;
    public const ushort CannotIncludeInSession = 0x0208;
    public const ushort SessionTypeNotSupported = 0x0209;
    public const ushort SessionDoesNotExist = 0x020A;
    public const ushort InvalidDuringLogin = 0x020B;
    public const ushort TargetErrorGeneric = 0x0300;
    public const ushort ServiceUnavailable = 0x0301;
    public const ushort OutOfResources = 0x0302;

    /// <summary>A one-line explanation naming the target and initiator, with what to do where it is obvious.</summary>
    public static string Describe(ushort status, string? target, string initiator) => status switch
    {
        InitiatorErrorGeneric => $"initiator error: {Name(target)} refused the login of {initiator} without saying why (check the ACL and CHAP settings on the target)",
        AuthenticationFailure => $"authentication failure: {Name(target)} did not accept the credentials of {initiator} (check the CHAP user name and secret)",
        AuthorizationFailure => $"authorization failure: {Name(target)} does not allow initiator {initiator} (add it to the target's ACL or log in with -I NAME)",
        NotFound => $"target not found: the portal has no {Name(target)}, or does not show it to initiator {initiator} (run discover to list the targets it offers)",
        TargetRemoved => $"target removed: {Name(target)} is no longer available at this portal",
        UnsupportedVersion => "the target does not support iSCSI protocol version 0",
        TooManyConnections => $"too many connections: {Name(target)} refused another connection",
        MissingParameter => "the target says a required login parameter is missing",
        CannotIncludeInSession => "the target cannot add this connection to the session",
        SessionTypeNotSupported => "the target does not support this session type (discovery or normal)",
        SessionDoesNotExist => "the target has no session to reinstate (TSIH unknown)",
        InvalidDuringLogin => "the target rejected a request that is invalid during login",
        TargetErrorGeneric => $"target error: {Name(target)} failed the login (see the target's log)",
        ServiceUnavailable => $"service unavailable: {Name(target)} is temporarily unavailable, try again later",
        OutOfResources => $"out of resources: {Name(target)} cannot accept the login now",
        _ => $"login failed with status 0x{status:x4}",
    };

    private static string Name(string? target) => target is null ? "the discovery service" : $"target {target}";
}
