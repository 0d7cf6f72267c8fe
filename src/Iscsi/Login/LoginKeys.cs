namespace IscsiUp.Iscsi.Login;

/// <summary>
/// The one table of login text keys (RFC 7143 section 13): each key's name, negotiation rule, range, RFC default
/// and how its settled value lands in <see cref="SessionParameters"/>. Code names keys by these constants only.
/// </summary>
public static class LoginKeys
{
    public const string HeaderDigest = "HeaderDigest";
    public const string DataDigest = "DataDigest";
    public const string AuthMethod = "AuthMethod";
    public const string MaxConnections = "MaxConnections";
    public const string InitialR2T = "InitialR2T";
    public const string ImmediateData = "ImmediateData";
    public const string MaxRecvDataSegmentLength = "MaxRecvDataSegmentLength";
    public const string MaxBurstLength = "MaxBurstLength";
    public const string FirstBurstLength = "FirstBurstLength";
    public const string DefaultTime2Wait = "DefaultTime2Wait";
    public const string DefaultTime2Retain = "DefaultTime2Retain";
    public const string MaxOutstandingR2T = "MaxOutstandingR2T";
    public const string DataPduInOrder = "DataPDUInOrder";
    public const string DataSequenceInOrder = "DataSequenceInOrder";
    public const string ErrorRecoveryLevel = "ErrorRecoveryLevel";
    public const string OfMarker = "OFMarker";
    public const string IfMarker = "IFMarker";
    public const string SessionType = "SessionType";
    public const string InitiatorName = "InitiatorName";
    public const string InitiatorAlias = "InitiatorAlias";
    public const string TargetName = "TargetName";
    public const string TargetAlias = "TargetAlias";
    public const string TargetAddress = "TargetAddress";
    public const string TargetPortalGroupTag = "TargetPortalGroupTag";

    /// <summary>Text request of a discovery session (RFC 7143 section 13.3); answered with TargetName/TargetAddress pairs.</summary>
    public const string SendTargets = "SendTargets";

    // CHAP's keys (RFC 7143 section 12.1.3) follow the CHAP exchange, not the negotiation rules: they are not in the table.
    public const string ChapAlgorithm = "CHAP_A";
    public const string ChapIdentifier = "CHAP_I";
    public const string ChapChallenge = "CHAP_C";
    public const string ChapName = "CHAP_N";
    public const string ChapResponse = "CHAP_R";

    /// <summary>Every known key, in the order of RFC 7143 section 13.</summary>
    public static IReadOnlyList<KeyDefinition> All { get; } =
    [
        new(HeaderDigest, KeyKind.List) { RfcDefault = "None", Apply = (p, v, _) => p.HeaderDigest = v == KeyValues.Crc32c },
        new(DataDigest, KeyKind.List) { RfcDefault = "None", Apply = (p, v, _) => p.DataDigest = v == KeyValues.Crc32c },
        new(AuthMethod, KeyKind.List) { RfcDefault = "None" },
        new(MaxConnections, KeyKind.NumericMin, 1, 65535) { IrrelevantForDiscovery = true, RfcDefault = "1", Apply = (p, v, _) => p.MaxConnections = KeyValues.ParseInt(v) },
        new(InitialR2T, KeyKind.BooleanOr) { IrrelevantForDiscovery = true, RfcDefault = KeyValues.Yes, Apply = (p, v, _) => p.InitialR2T = v == KeyValues.Yes },
        new(ImmediateData, KeyKind.BooleanAnd) { IrrelevantForDiscovery = true, RfcDefault = KeyValues.Yes, Apply = (p, v, _) => p.ImmediateData = v == KeyValues.Yes },
        new(MaxRecvDataSegmentLength, KeyKind.Declarative, 512, 16777215) { RfcDefault = "8192", Apply = ApplyMaxRecvDataSegmentLength },
        new(MaxBurstLength, KeyKind.NumericMin, 512, 16777215) { IrrelevantForDiscovery = true, RfcDefault = "262144", Apply = (p, v, _) => p.MaxBurstLength = KeyValues.ParseInt(v) },
        new(FirstBurstLength, KeyKind.NumericMin, 512, 16777215) { IrrelevantForDiscovery = true, RfcDefault = "65536", Apply = (p, v, _) => p.FirstBurstLength = KeyValues.ParseInt(v) },
        new(DefaultTime2Wait, KeyKind.NumericMax, 0, 3600) { RfcDefault = "2", Apply = (p, v, _) => p.DefaultTime2Wait = KeyValues.ParseInt(v) },
        new(DefaultTime2Retain, KeyKind.NumericMin, 0, 3600) { RfcDefault = "20", Apply = (p, v, _) => p.DefaultTime2Retain = KeyValues.ParseInt(v) },
        new(MaxOutstandingR2T, KeyKind.NumericMin, 1, 65535) { IrrelevantForDiscovery = true, RfcDefault = "1", Apply = (p, v, _) => p.MaxOutstandingR2T = KeyValues.ParseInt(v) },
        new(DataPduInOrder, KeyKind.BooleanOr) { IrrelevantForDiscovery = true, RfcDefault = KeyValues.Yes, Apply = (p, v, _) => p.DataPduInOrder = v == KeyValues.Yes },
        new(DataSequenceInOrder, KeyKind.BooleanOr) { IrrelevantForDiscovery = true, RfcDefault = KeyValues.Yes, Apply = (p, v, _) => p.DataSequenceInOrder = v == KeyValues.Yes },
        new(ErrorRecoveryLevel, KeyKind.NumericMin, 0, 2) { RfcDefault = "0", Apply = (p, v, _) => p.ErrorRecoveryLevel = KeyValues.ParseInt(v) },
        new(OfMarker, KeyKind.BooleanAnd) { RfcDefault = KeyValues.No },
        new(IfMarker, KeyKind.BooleanAnd) { RfcDefault = KeyValues.No },
        new(SessionType, KeyKind.Declarative) { RfcDefault = "Normal" },
        new(InitiatorName, KeyKind.Declarative),
        new(InitiatorAlias, KeyKind.Declarative),
        new(TargetName, KeyKind.Declarative),
        new(TargetAlias, KeyKind.Declarative) { Apply = (p, v, _) => p.TargetAlias = v },
        new(TargetAddress, KeyKind.Declarative),
        new(TargetPortalGroupTag, KeyKind.Declarative, 0, 65535) { Apply = (p, v, _) => p.TargetPortalGroupTag = KeyValues.ParseInt(v) },
    ];

    private static readonly Dictionary<string, KeyDefinition> ByName = All.ToDictionary(k => k.Name);

    public static KeyDefinition? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>Each side declares the longest data segment it receives: keep both.</summary>
    private static void ApplyMaxRecvDataSegmentLength(SessionParameters parameters, string value, bool fromTarget)
    {
        if (fromTarget) parameters.TargetMaxRecvDataSegmentLength = KeyValues.ParseInt(value);
        else parameters.InitiatorMaxRecvDataSegmentLength = KeyValues.ParseInt(value);
    }
}
