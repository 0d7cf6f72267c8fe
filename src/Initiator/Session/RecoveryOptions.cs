namespace IscsiUp.Initiator.Session;

/// <summary>
/// How a session recovers from a lost connection and from commands the target does not answer. Defaults follow
/// open-iscsi and the Linux SCSI layer: NOP-Out every 5 s with a 5 s timeout, a 120 s replacement timeout after
/// which I/O fails instead of waiting, a 30 s command timeout followed by ABORT TASK (15 s) and LOGICAL UNIT
/// RESET (30 s), and 5 re-issues of a command across reconnects.
/// </summary>
public sealed record RecoveryOptions
{
    public TimeSpan NopInterval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan NopTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan ReplacementTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A command without status this long is aborted (the Linux block layer's 30 s SCSI command timeout).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long ABORT TASK may take before the logical unit is reset (node.session.err_timeo.abort_timeout).</summary>
    public TimeSpan AbortTimeout { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>How long LOGICAL UNIT RESET may take before the connection is dropped (node.session.err_timeo.lu_reset_timeout).</summary>
    public TimeSpan LuResetTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How often a command is re-issued after lost connections before it fails (sd's 5 retries).</summary>
    public int CommandRetries { get; init; } = 5;
    /// <summary>A connection that fails sooner than this after its login does not reset the reconnect back-off.</summary>
    public TimeSpan StableAfter { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Log lines of one kind are written once per this window; the next one says how many were left out.</summary>
    public TimeSpan LogRepeatWindow { get; init; } = TimeSpan.FromSeconds(60);
}
