namespace IscsiUp.Iscsi.Login;

/// <summary>A text key known to this implementation and the rule that settles its value.</summary>
public sealed record KeyDefinition(string Name, KeyKind Kind, long Min = 0, long Max = 0)
{
    private static readonly Dictionary<string, KeyDefinition> Known = new KeyDefinition[]
    {
        new("HeaderDigest", KeyKind.List),
        new("DataDigest", KeyKind.List),
        new("AuthMethod", KeyKind.List),
        new("MaxConnections", KeyKind.NumericMin, 1, 65535),
        new("InitialR2T", KeyKind.BooleanOr),
        new("ImmediateData", KeyKind.BooleanAnd),
        new("MaxRecvDataSegmentLength", KeyKind.Declarative, 512, 16777215),
        new("MaxBurstLength", KeyKind.NumericMin, 512, 16777215),
        new("FirstBurstLength", KeyKind.NumericMin, 512, 16777215),
        new("DefaultTime2Wait", KeyKind.NumericMax, 0, 3600),
        new("DefaultTime2Retain", KeyKind.NumericMin, 0, 3600),
        new("MaxOutstandingR2T", KeyKind.NumericMin, 1, 65535),
        new("DataPDUInOrder", KeyKind.BooleanOr),
        new("DataSequenceInOrder", KeyKind.BooleanOr),
        new("ErrorRecoveryLevel", KeyKind.NumericMin, 0, 2),
        new("OFMarker", KeyKind.BooleanAnd),
        new("IFMarker", KeyKind.BooleanAnd),
        new("SessionType", KeyKind.Declarative),
        new("InitiatorName", KeyKind.Declarative),
        new("InitiatorAlias", KeyKind.Declarative),
        new("TargetName", KeyKind.Declarative),
        new("TargetAlias", KeyKind.Declarative),
        new("TargetAddress", KeyKind.Declarative),
        new("TargetPortalGroupTag", KeyKind.Declarative, 0, 65535),
    }.ToDictionary(k => k.Name);

    public static KeyDefinition? Find(string name) => Known.GetValueOrDefault(name);

    public bool IsNumeric => Kind is KeyKind.NumericMin or KeyKind.NumericMax || (Kind == KeyKind.Declarative && Max > 0);
}
