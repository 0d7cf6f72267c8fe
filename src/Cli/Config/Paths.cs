namespace IscsiUp.Cli.Config;

/// <summary>
/// Where configuration (/etc/iscsi-up) and runtime state (/run/iscsi-up) live. Tests and unprivileged use
/// override them with ISCSI_UP_CONFIG_DIR and ISCSI_UP_RUN_DIR.
/// </summary>
public static class Paths
{
    public static string ConfigDir => Environment.GetEnvironmentVariable("ISCSI_UP_CONFIG_DIR") is { Length: > 0 } dir ? dir : "/etc/iscsi-up";
    public static string RunDir => Environment.GetEnvironmentVariable("ISCSI_UP_RUN_DIR") is { Length: > 0 } dir ? dir : "/run/iscsi-up";
    public static string SessionsDir => Path.Combine(RunDir, "sessions");
    public static string InitiatorNameFile => Path.Combine(ConfigDir, "initiatorname.iscsi");
    /// <summary>open-iscsi's file, read when iscsi-up has no name of its own, so both tools present the same name.</summary>
    public static string OpenIscsiInitiatorNameFile =>
        Environment.GetEnvironmentVariable("ISCSI_UP_OPEN_ISCSI_NAME_FILE") is { Length: > 0 } file ? file : "/etc/iscsi/initiatorname.iscsi";

    /// <summary>Creates a directory readable by root only (0700): sessions, nodes and names are not for other users.
    /// An existing one must be owned by root (or the running user) and writable by no one else, since root
    /// writes there: see <see cref="SafeFiles.TrustedDirectory"/>.</summary>
    public static string EnsurePrivateDirectory(string path) => SafeFiles.TrustedDirectory.Ensure(path);

    /// <summary>Refuses to read state from directories others could have written (missing ones pass): a
    /// directory and then the one inside it, returning the last.</summary>
    public static string CheckTrusted(params string[] outerToInner)
    {
        foreach (var path in outerToInner)
            SafeFiles.TrustedDirectory.Check(path);
        return outerToInner[^1];
    }
}
