namespace IscsiUp.Iscsi.Login;

/// <summary>A login the target refused or that could not be negotiated. The message is meant for the administrator.</summary>
public class LoginException(string message, ushort status = 0) : IOException(message)
{
    /// <summary>Status-Class and Status-Detail from the target (0 when the failure was on our side).</summary>
    public ushort Status { get; } = status;

    /// <summary>
    /// The login failed right after we offered several CHAP algorithms (the target refused the list, or the
    /// answer computed with the one it picked): an old target may accept MD5 alone, worth one more login.
    /// </summary>
    public bool ChapAlgorithmListRefused { get; init; }
}

/// <summary>The target answered with a redirection to another portal.</summary>
public sealed class LoginRedirectException(string message, string targetAddress, ushort status) : LoginException(message, status)
{
    public string TargetAddress { get; } = targetAddress;
}
