namespace IscsiUp.MountManager;

/// <summary>
/// Base of every failure the mount manager reports. The message is one line written for an
/// administrator (the CLI prints it as <c>iscsi-up: &lt;message&gt;</c>); no stack trace is needed to act on it.
/// </summary>
public class MountManagerException : Exception
{
    public MountManagerException(string message) : base(message) { }

    public MountManagerException(string message, Exception? inner) : base(message, inner) { }
}
