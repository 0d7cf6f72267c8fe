namespace IscsiUp.Iscsi.Pdus;

/// <summary>The peer broke the iSCSI protocol (malformed PDU, bad digest, unexpected sequence). The connection is unusable.</summary>
public sealed class ProtocolException(string message) : IOException(message);
