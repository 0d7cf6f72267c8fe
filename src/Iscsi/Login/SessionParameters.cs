namespace IscsiUp.Iscsi.Login;

/// <summary>
/// The operational parameters in force for a session, starting from the RFC 7143 defaults and updated with
/// each settled key. "Initiator"/"Target" MaxRecvDataSegmentLength are the two sides' declarations: we never
/// send a data segment longer than the target's, it never sends one longer than ours.
/// </summary>
public sealed class SessionParameters
{
    public bool HeaderDigest { get; set; }
    public bool DataDigest { get; set; }
    public int MaxConnections { get; set; } = 1;
    public bool InitialR2T { get; set; } = true;
    public bool ImmediateData { get; set; } = true;
    public int InitiatorMaxRecvDataSegmentLength { get; set; } = 8192;
    public int TargetMaxRecvDataSegmentLength { get; set; } = 8192;
    public int MaxBurstLength { get; set; } = 262144;
    public int FirstBurstLength { get; set; } = 65536;
    public int DefaultTime2Wait { get; set; } = 2;
    public int DefaultTime2Retain { get; set; } = 20;
    public int MaxOutstandingR2T { get; set; } = 1;
    public bool DataPduInOrder { get; set; } = true;
    public bool DataSequenceInOrder { get; set; } = true;
    public int ErrorRecoveryLevel { get; set; }
    public string? TargetAlias { get; set; }
    public int? TargetPortalGroupTag { get; set; }

    /// <summary>Records a value now in force. <paramref name="fromTarget"/> tells whose declaration a declarative key is.</summary>
    public void Apply(string key, string value, bool fromTarget)
    {
        switch (key)
        {
            case "HeaderDigest": HeaderDigest = value == "CRC32C"; break;
            case "DataDigest": DataDigest = value == "CRC32C"; break;
            case "MaxConnections": MaxConnections = Number(value); break;
            case "InitialR2T": InitialR2T = value == KeyValues.Yes; break;
            case "ImmediateData": ImmediateData = value == KeyValues.Yes; break;
            case "MaxRecvDataSegmentLength":
                if (fromTarget) TargetMaxRecvDataSegmentLength = Number(value);
                else InitiatorMaxRecvDataSegmentLength = Number(value);
                break;
            case "MaxBurstLength": MaxBurstLength = Number(value); break;
            case "FirstBurstLength": FirstBurstLength = Number(value); break;
            case "DefaultTime2Wait": DefaultTime2Wait = Number(value); break;
            case "DefaultTime2Retain": DefaultTime2Retain = Number(value); break;
            case "MaxOutstandingR2T": MaxOutstandingR2T = Number(value); break;
            case "DataPDUInOrder": DataPduInOrder = value == KeyValues.Yes; break;
            case "DataSequenceInOrder": DataSequenceInOrder = value == KeyValues.Yes; break;
            case "ErrorRecoveryLevel": ErrorRecoveryLevel = Number(value); break;
            case "TargetAlias": TargetAlias = value; break;
            case "TargetPortalGroupTag": TargetPortalGroupTag = Number(value); break;
        }
    }

    /// <summary>Bytes the initiator may send without an R2T for one command (0 when InitialR2T=Yes and ImmediateData=No).</summary>
    public int UnsolicitedDataLimit => InitialR2T && !ImmediateData ? 0 : Math.Min(FirstBurstLength, MaxBurstLength);

    private static int Number(string value) =>
        KeyValues.TryParseNumber(value, out long n) && n <= int.MaxValue ? (int)n : throw new FormatException($"not a number: {value}");

    public override string ToString() =>
        $"HeaderDigest={(HeaderDigest ? "CRC32C" : "None")} DataDigest={(DataDigest ? "CRC32C" : "None")} " +
        $"MaxRecvDataSegmentLength={InitiatorMaxRecvDataSegmentLength}/{TargetMaxRecvDataSegmentLength} " +
        $"MaxBurstLength={MaxBurstLength} FirstBurstLength={FirstBurstLength} InitialR2T={KeyValues.Format(InitialR2T)} " +
        $"ImmediateData={KeyValues.Format(ImmediateData)} MaxOutstandingR2T={MaxOutstandingR2T} ErrorRecoveryLevel={ErrorRecoveryLevel}";
}
