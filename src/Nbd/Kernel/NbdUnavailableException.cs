namespace IscsiUp.Nbd.Kernel;

/// <summary>The kernel cannot give us an NBD device (no driver, no permission, device busy).</summary>
public sealed class NbdUnavailableException(string message, Exception? inner = null) : IOException(message, inner);
