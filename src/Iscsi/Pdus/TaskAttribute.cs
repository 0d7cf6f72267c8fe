namespace IscsiUp.Iscsi.Pdus;

/// <summary>The ATTR field of a SCSI Command (RFC 7143 section 11.3.1, SAM task attributes).</summary>
public enum TaskAttribute : byte
{
    Untagged = 0,
    Simple = 1,
    Ordered = 2,
    HeadOfQueue = 3,
    AutoContingentAllegiance = 4,
}
