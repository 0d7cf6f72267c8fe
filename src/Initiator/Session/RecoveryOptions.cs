namespace IscsiUp.Initiator.Session;

/// <summary>
/// How a session recovers from a lost connection. Defaults follow open-iscsi: NOP-Out every 5 s with a 5 s
/// timeout, and a 120 s replacement timeout after which I/O fails instead of waiting.
/// </summary>
public sealed record RecoveryOptions
{
    public TimeSpan NopInterval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan NopTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan ReplacementTimeout { get; init; } = TimeSpan.FromSeconds(120);
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);
}
