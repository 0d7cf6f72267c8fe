namespace IscsiUp.Iscsi.Login;

/// <summary>
/// A text key known to this implementation: the rule that settles its value, its range, the value in force
/// before anyone negotiates it (RFC 7143 section 13) and where a settled value lands in <see cref="SessionParameters"/>.
/// The known keys are listed once, in <see cref="LoginKeys"/>.
/// </summary>
public sealed record KeyDefinition(string Name, KeyKind Kind, long Min = 0, long Max = 0)
{
    /// <summary>The RFC 7143 default, in force until the key is negotiated; null for keys without one (names, TargetAlias...).</summary>
    public string? RfcDefault { get; init; }

    /// <summary>The key only matters to sessions carrying SCSI data (RFC 7143 section 13: "Irrelevant when: SessionType=Discovery").</summary>
    public bool IrrelevantForDiscovery { get; init; }

    /// <summary>
    /// Records a value now in force: (parameters, value, fromTarget), where fromTarget tells whose declaration a
    /// declarative key is. Null for keys the session does not keep (markers, names).
    /// </summary>
    public Action<SessionParameters, string, bool>? Apply { get; init; }

    public bool IsNumeric => Kind is KeyKind.NumericMin or KeyKind.NumericMax || (Kind == KeyKind.Declarative && Max > 0);
}
