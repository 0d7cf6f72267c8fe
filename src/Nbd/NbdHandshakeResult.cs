namespace IscsiUp.Nbd;

/// <summary>The export and features agreed in a successful handshake.</summary>
internal sealed record NbdHandshakeResult(NbdExport Export, bool StructuredReplies);
