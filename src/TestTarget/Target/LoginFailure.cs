namespace IscsiUp.TestTarget.Target;

/// <summary>Ends a login with a non-zero Status-Class/Status-Detail (RFC 7143 section 11.13.5); the reason goes to the target's log.</summary>
public sealed class LoginFailure(ushort status, string reason) : Exception(reason)
{
    /// <summary>Initiator error, no more specific detail (0x0200).</summary>
    public const ushort InitiatorError = 0x0200;

    public ushort Status { get; } = status;
}
