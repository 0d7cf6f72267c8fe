namespace IscsiUp.Cli;

/// <summary>Exit codes, numbered as iscsiadm numbers them so existing scripts keep working.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>Any other failure (I/O error, SCSI error, unexpected condition).</summary>
    public const int Error = 1;
    /// <summary>No session matches (logout of an unknown target).</summary>
    public const int SessionNotFound = 2;
    /// <summary>Cannot reach the portal (connection refused, host unreachable, connection lost).</summary>
    public const int Transport = 4;
    /// <summary>The login failed for a reason that may pass (target error, negotiation, timeout during login).</summary>
    public const int Login = 5;
    /// <summary>Bad command line or configuration.</summary>
    public const int InvalidArgument = 7;
    /// <summary>The portal did not answer in time.</summary>
    public const int TransportTimeout = 8;
    /// <summary>A session to that target and portal already exists.</summary>
    public const int SessionExists = 15;
    /// <summary>The target refused for good: ACL (authorization), unknown or removed target.</summary>
    public const int FatalLogin = 19;
    /// <summary>Nothing to list or act on (no sessions).</summary>
    public const int NoObjectsFound = 21;
    /// <summary>CHAP authentication failed.</summary>
    public const int AuthenticationFailed = 24;
}
