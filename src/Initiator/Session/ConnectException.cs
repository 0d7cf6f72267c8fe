namespace IscsiUp.Initiator.Session;

/// <summary>
/// The TCP connection to a portal could not be made (refused, unreachable, unknown host). Callers decide by this
/// type, not by the message, that the portal was not reached (the CLI's exit code 4).
/// </summary>
public class ConnectException(string message, Exception? inner = null) : IOException(message, inner);
