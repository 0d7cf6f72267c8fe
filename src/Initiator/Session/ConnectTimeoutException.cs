namespace IscsiUp.Initiator.Session;

/// <summary>The portal did not answer the TCP connect within the login timeout (the CLI's exit code 8).</summary>
public sealed class ConnectTimeoutException(string message) : ConnectException(message);
