namespace IscsiUp.TestTarget.Target;

/// <summary>How an outgoing PDU uses the connection's StatSN (RFC 7143 section 4.2.2.2).</summary>
public enum StatSnUse
{
    /// <summary>The field is reserved (Data-In without status).</summary>
    None,
    /// <summary>Carries the next StatSN without consuming it (R2T, unsolicited NOP-In).</summary>
    Peek,
    /// <summary>A status-bearing PDU: takes the next StatSN and advances it.</summary>
    Advance,
}
