namespace IscsiUp.MountManager.Fstab;

/// <summary>The errors a validator found in one fstab file.</summary>
/// <param name="Errors">One entry per error, e.g. "/iscsi: unreachable on boot required target: No such file or directory" or "parse error: &lt;line&gt;".</param>
public sealed record FstabVerification(IReadOnlyList<string> Errors)
{
    public static FstabVerification Clean { get; } = new(Array.Empty<string>());

    /// <summary>Errors here that <paramref name="baseline"/> did not already have.</summary>
    public IReadOnlyList<string> NewErrorsSince(FstabVerification? baseline)
    {
        if (baseline is null) return Errors;
        var remaining = baseline.Errors.GroupBy(e => e, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var added = new List<string>();
        foreach (var error in Errors)
        {
            if (remaining.TryGetValue(error, out var count) && count > 0) remaining[error] = count - 1;
            else added.Add(error);
        }
        return added;
    }
}
