namespace IscsiUp.Nbd.Kernel;

/// <summary>
/// How a kernel /dev/nbdX rides out the loss of its socket (our daemon crashed, restarted or is being upgraded).
/// <para><see cref="RequestSeconds"/> (NBD_ATTR_TIMEOUT): a request the kernel sent and got no answer for within
/// this time is taken back and queued again, waiting for a new socket. It must be longer than the daemon itself
/// ever holds a request while alive (a lost iSCSI connection: about 10 s to notice it, then up to the 120 s
/// replacement timeout), or the kernel would drop the socket of a living daemon during a target outage.</para>
/// <para><see cref="DeadConnectionSeconds"/> (NBD_ATTR_DEAD_CONN_TIMEOUT): how long I/O waits for a successor
/// daemon to hand the device a new socket before it fails with I/O errors.</para>
/// docs/kernel-device-handover.md explains the kernel behaviour behind both numbers.
/// </summary>
public sealed record KernelNbdTimeouts(int RequestSeconds, int DeadConnectionSeconds)
{
    public const int DefaultRequestSeconds = 180;
    public const int DefaultDeadConnectionSeconds = 120;

    public static readonly KernelNbdTimeouts Default = new(DefaultRequestSeconds, DefaultDeadConnectionSeconds);

    /// <summary>Null when both are usable, otherwise what is wrong (one line for the user).</summary>
    public string? Problem =>
        RequestSeconds < 1 ? $"the nbd request timeout must be at least 1 s (got {RequestSeconds})"
        : DeadConnectionSeconds < 1 ? $"the nbd dead-connection timeout must be at least 1 s (got {DeadConnectionSeconds})"
        : null;
}
