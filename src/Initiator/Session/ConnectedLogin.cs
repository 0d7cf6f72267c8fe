using IscsiUp.Initiator.Login;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// A connection that has just logged in: what the login settled, and the options it succeeded with (after a
/// CHAP fallback they offer MD5 alone).
/// </summary>
public sealed record ConnectedLogin(IscsiConnection Connection, LoginResult Result, LoginOptions Options);
