namespace IscsiUp.TestTarget.Storage;

/// <summary>
/// Outcome of <see cref="Raid5Array.CheckParity"/>: how many stripes were verified and how many
/// of them had data chunks whose XOR differs from the parity chunk.
/// </summary>
public sealed record ParityCheckResult(long StripesChecked, long InconsistentStripes)
{
    /// <summary>Most stripes listed in <see cref="InconsistentStripeNumbers"/>.</summary>
    public const int MaxListedStripes = 64;

    public bool IsClean => InconsistentStripes == 0;

    /// <summary>The first (up to <see cref="MaxListedStripes"/>) inconsistent stripe numbers, ascending.</summary>
    public IReadOnlyList<long> InconsistentStripeNumbers { get; init; } = [];
}
