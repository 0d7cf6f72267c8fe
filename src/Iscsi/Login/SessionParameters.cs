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
    public int MaxConnections { get; set; }
    public bool InitialR2T { get; set; }
    public bool ImmediateData { get; set; }
    public int InitiatorMaxRecvDataSegmentLength { get; set; }
    public int TargetMaxRecvDataSegmentLength { get; set; }
    public int MaxBurstLength { get; set; }
    public int FirstBurstLength { get; set; }
    public int DefaultTime2Wait { get; set; }
    public int DefaultTime2Retain { get; set; }
    public int MaxOutstandingR2T { get; set; }
    public bool DataPduInOrder { get; set; }
    public bool DataSequenceInOrder { get; set; }
    public int ErrorRecoveryLevel { get; set; }
    public string? TargetAlias { get; set; }
    public int? TargetPortalGroupTag { get; set; }

    /// <summary>Starts from the RFC 7143 defaults in <see cref="LoginKeys"/>, for both sides' declarations.</summary>
    public SessionParameters()
    {
        foreach (var key in LoginKeys.All)
        {
            if (key.RfcDefault is not { } value) continue;
            Apply(key.Name, value, fromTarget: false);
            Apply(key.Name, value, fromTarget: true);
        }
    }

    /// <summary>
    /// Records a value now in force, as the key's <see cref="KeyDefinition.Apply"/> says; keys the session does not
    /// keep are ignored. <paramref name="fromTarget"/> tells whose declaration a declarative key is.
    /// </summary>
    public void Apply(string key, string value, bool fromTarget) =>
        LoginKeys.Find(key)?.Apply?.Invoke(this, value, fromTarget);

    /// <summary>Bytes the initiator may send without an R2T for one command (0 when InitialR2T=Yes and ImmediateData=No).</summary>
    public int UnsolicitedDataLimit => InitialR2T && !ImmediateData ? 0 : Math.Min(FirstBurstLength, MaxBurstLength);

    public override string ToString() =>
        $"HeaderDigest={(HeaderDigest ? KeyValues.Crc32c : "None")} DataDigest={(DataDigest ? KeyValues.Crc32c : "None")} " +
        $"MaxRecvDataSegmentLength={InitiatorMaxRecvDataSegmentLength}/{TargetMaxRecvDataSegmentLength} " +
        $"MaxBurstLength={MaxBurstLength} FirstBurstLength={FirstBurstLength} InitialR2T={KeyValues.Format(InitialR2T)} " +
        $"ImmediateData={KeyValues.Format(ImmediateData)} MaxOutstandingR2T={MaxOutstandingR2T} ErrorRecoveryLevel={ErrorRecoveryLevel}";
}
