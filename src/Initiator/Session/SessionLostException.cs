namespace IscsiUp.Initiator.Session;

/// <summary>The session's connection is gone; commands that had no status were not completed.</summary>
public sealed class SessionLostException(string message, Exception? inner = null) : IOException(message, inner);
