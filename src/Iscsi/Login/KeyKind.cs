namespace IscsiUp.Iscsi.Login;

/// <summary>How a text key's value is agreed (RFC 7143 section 6.2).</summary>
public enum KeyKind
{
    /// <summary>Each side states its own value; no answer is owed (MaxRecvDataSegmentLength, names).</summary>
    Declarative,
    /// <summary>Yes only if both say Yes.</summary>
    BooleanAnd,
    /// <summary>Yes if either says Yes.</summary>
    BooleanOr,
    /// <summary>The smaller of the two numbers.</summary>
    NumericMin,
    /// <summary>The larger of the two numbers.</summary>
    NumericMax,
    /// <summary>The responder picks the first value of the offered list it supports.</summary>
    List,
}
